package main

import (
	"log"
	"net/netip"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

// syncMetrics are sync's Prometheus collectors: the target state and probes under the plugin's names
// (re-declared: the root package pulls in CoreDNS), and the updates by provider and result.
type syncMetrics struct {
	targetUp      *prometheus.GaugeVec
	probes        *prometheus.CounterVec
	probeDuration *prometheus.HistogramVec
	updates       *prometheus.CounterVec
}

func newSyncMetrics(reg prometheus.Registerer) *syncMetrics {
	const ns, sub = "coredns", "srvhealth"
	m := &syncMetrics{
		targetUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "target_up",
			Help: "Whether an SRV target is up (1), down (0) or not yet probed (absent), for the service domain its probe names (empty for probes that name none)."},
			[]string{"target", "port", "probe", "domain"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "probes_total",
			Help: "Counter of probes, by probe and result (up, down, deferred: not run, its server had had max_per_server probes this interval)."},
			[]string{"probe", "result"}),
		probeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "probe_duration_seconds",
			Help: "Histogram of the time a probe took.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}},
			[]string{"probe"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sync_updates_total",
			Help: "Counter of RRset writes by srvhealth sync, by provider (rfc2136, route53, cloudflare) and result (ok, conflict: changed by someone else since it was read, error)."},
			[]string{"provider", "result"}),
	}
	reg.MustRegister(m.targetUp, m.probes, m.probeDuration, m.updates)
	return m
}

// syncEvents turns the monitor's events into metrics and log lines, and wakes the sync loop when a
// target's state or resolution changed.
type syncEvents struct {
	m    *syncMetrics
	log  *log.Logger
	wake chan<- struct{}
}

func (e *syncEvents) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func labels(k health.Key) []string {
	return []string{k.Target, strconv.Itoa(int(k.Port)), k.Method.String(), k.Domain}
}

func (e *syncEvents) ProbeDone(k health.Key, _ netip.Addr, r probe.Result) {
	result := "down"
	if r.Up {
		result = "up"
	}
	e.m.probes.WithLabelValues(k.Method.String(), result).Inc()
	e.m.probeDuration.WithLabelValues(k.Method.String()).Observe(r.Duration.Seconds())
}

func (e *syncEvents) StateChanged(k health.Key, from, to health.State, reason string) {
	switch to {
	case health.Up:
		e.m.targetUp.WithLabelValues(labels(k)...).Set(1)
	case health.Down:
		e.m.targetUp.WithLabelValues(labels(k)...).Set(0)
	default:
		e.m.targetUp.DeleteLabelValues(labels(k)...)
	}
	e.log.Printf("target %s port %d probe %s: %s -> %s (%s)", k.Target, k.Port, k.Method, from, to, reason)
	e.poke()
}

// Adopted is StateChanged for a state taken from a fleet member; sync's Monitor is in no fleet, so it is
// here only to complete health.Events.
func (e *syncEvents) Adopted(k health.Key, from, to health.State, prober string) {
	e.StateChanged(k, from, to, "from "+prober)
}

func (e *syncEvents) Resolved(k health.Key, r health.Resolution) {
	switch {
	case r.CNAME:
		e.log.Printf("warning: target %s port %d is a CNAME; RFC 2782 forbids aliases as SRV targets, it is left out", k.Target, k.Port)
	case len(r.Addrs) == 0:
		e.log.Printf("warning: target %s port %d has no A or AAAA address, it is left out", k.Target, k.Port)
	}
	e.poke()
}

func (e *syncEvents) Forgotten(k health.Key) { e.m.targetUp.DeleteLabelValues(labels(k)...) }
func (e *syncEvents) Overflow(health.Key)    {}
func (e *syncEvents) Evicted(health.Key)     {}
func (e *syncEvents) Deferred(k health.Key, _ netip.Addr) {
	e.m.probes.WithLabelValues(k.Method.String(), "deferred").Inc()
}
