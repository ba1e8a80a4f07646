package srvhealth

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/srvhealth/srvhealth/health"
)

// Metrics of the query path.
var (
	droppedCount = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "dropped_total",
		Help:      "Counter of SRV records dropped from answers, by reason (down, cname, no_address, drained).",
	}, []string{"server", "reason"})

	allDownCount = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "all_down_total",
		Help:      "Counter of answers in which every target was dropped, by service (_sip._tcp, ...) and the all-down policy applied.",
	}, []string{"server", "service", "policy"})

	signedCount = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "signed_reordered_total",
		Help:      "Counter of DNSSEC-signed SRV answers that were reordered but not filtered.",
	}, []string{"server"})
)

// Metrics of the monitor. Series of a target are deleted when the monitor forgets it, so their number is
// bounded by max_targets.
var (
	targetUp = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "target_up",
		Help:      "Whether an SRV target is up (1), down (0) or not yet probed (absent), for the service domain its probe names (empty for probes that name none).",
	}, []string{"target", "port", "probe", "domain"})

	probeCount = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "probes_total",
		Help:      "Counter of probes, by probe and result (up, down, deferred: not run, its server had had max_per_server probes this interval).",
	}, []string{"probe", "result"})

	probeDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "probe_duration_seconds",
		Help:      "Histogram of the time a probe took.",
		Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"probe"})

	// targetCount is read from the monitors when scraped: every server block's monitor counts, and so
	// does every target it holds, probed or not.
	targetCount = promauto.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "targets",
		Help:      "Number of targets monitored, summed over the server blocks.",
	}, func() float64 { return float64(health.Monitored()) })

	overflowCount = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "overflow_total",
		Help:      "Counter of targets refused because the table was at max_targets with nothing it may evict, and so served unfiltered.",
	})

	evictedCount = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "evicted_total",
		Help:      "Counter of targets evicted at max_targets to make room for a new one: seen in one answer only, or with no address in scope.",
	})

	resolveFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "resolve_failures_total",
		Help:      "Counter of failed A/AAAA lookups of targets, by qtype and reason (timeout, truncated, servfail, refused, ..., error).",
	}, []string{"qtype", "reason"})

	certExpiry = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "tls_cert_expiry_timestamp_seconds",
		Help:      "Expiry (Unix time) of the certificate a TLS-based probe saw for a service domain (its SNI).",
	}, []string{"target", "port", "domain"})
)

// Metrics of the drains, NAPTR and address answers.
var (
	drainedGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "drained",
		Help:      "Targets drained by configuration (1), by target and port (0: every port).",
	}, []string{"target", "port"})

	naptrDroppedCount = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "naptr_dropped_total",
		Help:      "Counter of NAPTR records dropped from answers because every target of their SRV replacement was down.",
	}, []string{"server"})

	addressesDroppedCount = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "addresses_dropped_total",
		Help:      "Counter of A and AAAA records of monitored targets dropped from answers because their address was down, by qtype.",
	}, []string{"server", "qtype"})
)
