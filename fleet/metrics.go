package fleet

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics of the fleet, under srvhealth's subsystem.
var (
	membersAlive = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "srvhealth",
		Name:      "fleet_members",
		Help:      "Members of the fleet alive in this member's view, itself included; 0 outside a fleet.",
	})

	messagesIn = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "srvhealth",
		Name:      "fleet_messages_received_total",
		Help:      "Counter of fleet messages received, by type (state, want, invalid).",
	}, []string{"type"})

	messagesOut = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "srvhealth",
		Name:      "fleet_messages_sent_total",
		Help:      "Counter of fleet messages handed to gossip, by type (state, want); each is sent to a few members per round until retransmitted enough.",
	}, []string{"type"})

	sentBytes = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "srvhealth",
		Name:      "fleet_sent_bytes_total",
		Help:      "Counter of the octets of srvhealth's messages this member sent, before encryption, by path (gossip: each transmission of a broadcast; pushpull: the states sent in push/pull exchanges).",
	}, []string{"path"})

	pulledStates = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "srvhealth",
		Name:      "fleet_states_pulled_total",
		Help:      "Counter of target states received in push/pull exchanges (on joining, and every 5 s with one member).",
	})

	fallbackProbes = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "srvhealth",
		Name:      "fleet_fallback_rounds_total",
		Help:      "Counter of probe rounds of kept targets this member does not own, run for want of news of them from their owners.",
	})

	ownedTargets = promauto.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "srvhealth",
		Name:      "fleet_owned_targets",
		Help:      "Kept targets this member owns, and so probes for the fleet.",
	}, countOwned)
)

// countOwned counts the kept targets the process's member owns.
func countOwned() float64 {
	mu.Lock()
	m := cur
	mu.Unlock()
	if m == nil {
		return 0
	}
	n := 0
	for _, s := range m.states() {
		if m.owns(s.Key) {
			n++
		}
	}
	return float64(n)
}
