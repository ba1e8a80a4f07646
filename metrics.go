package srvhealth

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics of the query path. The monitor's metrics are in monitor.go, next to the events that drive them.
var (
	droppedCount = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "dropped_total",
		Help:      "Counter of SRV records dropped from answers, by reason (down, cname, no_address).",
	}, []string{"server", "reason"})

	allDownCount = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "all_down_total",
		Help:      "Counter of answers in which every target was dropped, by the all-down policy applied.",
	}, []string{"server", "policy"})

	signedCount = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "signed_reordered_total",
		Help:      "Counter of DNSSEC-signed SRV answers that were reordered but not filtered.",
	}, []string{"server"})
)
