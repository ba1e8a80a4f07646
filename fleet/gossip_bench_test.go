package fleet

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

// The fleet's costs, measured rather than extrapolated (README, The fleet, "What it costs"):
//
//	go test -run '^$' -bench Gossip ./fleet
//
// BenchmarkGossip runs benchMembers members on loopback, each keeping every one of 1,000 or 10,000 targets;
// every member shares the state of each target it owns once per interval (the default 10 s), spread over the
// interval as the Monitor's rounds are, and the benchmark counts the octets memberlist puts on the wire. One
// op is one window of gossipWindow. BenchmarkGossipJoin times a member that joins such a fleet until it holds
// every target's state: one op is one join.

const (
	benchMembers  = 3
	benchInterval = 10 * time.Second // the default interval
	gossipWindow  = 30 * time.Second // memberlist's LAN push/pull interval: about one push/pull per member
	benchSlices   = 20               // each member shares its owned targets in this many slices per interval
)

// wireSink counts the octets memberlist reports sending (memberlist.udp.sent: gossip and probes;
// memberlist.tcp.sent: push/pull and the state pulled on join), after compression and encryption, for
// every member in the process.
type wireSink struct {
	metrics.BlackholeSink
	udp, tcp atomic.Int64
}

func (s *wireSink) count(key []string, val float32) {
	if n := len(key); n >= 3 && key[n-3] == "memberlist" && key[n-1] == "sent" { // after the service name
		switch key[n-2] {
		case "udp":
			s.udp.Add(int64(val))
		case "tcp":
			s.tcp.Add(int64(val))
		}
	}
}

func (s *wireSink) IncrCounter(key []string, val float32) { s.count(key, val) }
func (s *wireSink) IncrCounterWithLabels(key []string, val float32, _ []metrics.Label) {
	s.count(key, val)
}

var (
	sinkOnce sync.Once
	sink     = &wireSink{}
)

// installSink makes sink memberlist's metrics sink, for the whole process.
func installSink(b *testing.B) {
	sinkOnce.Do(func() {
		cfg := metrics.DefaultConfig("bench")
		cfg.EnableHostname, cfg.EnableRuntimeMetrics = false, false
		if _, err := metrics.NewGlobal(cfg, sink); err != nil {
			b.Fatal(err)
		}
	})
}

// benchKeys returns n kept targets' keys.
func benchKeys(n int) []health.Key {
	m := probe.Method{Kind: probe.KindTCP, Transport: probe.TCP}
	ks := make([]health.Key, n)
	for i := range ks {
		ks[i] = health.NewKey(fmt.Sprintf("sip%d.example.com.", i), 5060, m, "")
	}
	return ks
}

// benchState is k's state from a round of prober at now: one address, up.
func benchState(k health.Key, i int, prober string, now time.Time) health.Shared {
	a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	return health.Shared{Key: k, Prober: prober, Checked: now, Since: now.Add(-time.Hour), Resolved: true,
		Res:   health.Resolution{Addrs: []netip.Addr{a}, TTL: 300},
		Addrs: []health.SharedAddr{{Addr: a, State: health.Up, Rises: 2, Up: true, Reason: "connected", RTT: 2 * time.Millisecond}}}
}

// benchMonitor returns a Monitor (never started: it holds what it is given) keeping every key, each with a
// state from a round some time ago.
func benchMonitor(b *testing.B, ks []health.Key) *health.Monitor {
	cfg := health.Config{Interval: benchInterval, Timeout: time.Second, MaxTargets: 2 * len(ks)}
	mon := health.New(cfg, noResolver{}, noProber, nil)
	b.Cleanup(mon.Stop)
	then := time.Now().Add(-time.Minute)
	for i, k := range ks {
		mon.Observe(k, "example.com") // named: kept
		mon.Adopt(benchState(k, i, "seed", then))
	}
	if got := len(mon.Shared()); got != len(ks) {
		b.Fatalf("the Monitor shares %d states, want %d", got, len(ks))
	}
	return mon
}

// benchFleet starts benchMembers members on loopback, each keeping every key, and waits until each sees
// them all.
func benchFleet(b *testing.B, ks []health.Key) ([]*Member, []*health.Monitor) {
	key := make([]byte, 32)
	var (
		ms   []*Member
		mons []*health.Monitor
	)
	for i := range benchMembers {
		c := Config{Bind: freeAddr(b), Key: key}
		if i > 0 {
			c.Peers = []string{ms[0].cfg.Bind.String()}
		}
		mon := benchMonitor(b, ks)
		ms, mons = append(ms, member(b, c, mon)), append(mons, mon)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, m := range ms {
		for m.ml.NumMembers() < benchMembers {
			if time.Now().After(deadline) {
				b.Fatalf("%s sees %d members, want %d", m.name, m.ml.NumMembers(), benchMembers)
			}
			time.Sleep(50 * time.Millisecond)
		}
		m.refreshView()
	}
	return ms, mons
}

// rounds makes m share the state of each key it owns once per benchInterval, a slice at a time, until stop
// is closed.
func rounds(m *Member, mon *health.Monitor, ks []health.Key, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	tick := time.NewTicker(benchInterval / benchSlices)
	defer tick.Stop()
	for s := 0; ; s++ {
		now := time.Now()
		for i := s % benchSlices; i < len(ks); i += benchSlices {
			if m.owns(ks[i]) {
				st := benchState(ks[i], i, m.name, now)
				mon.Adopt(st) // the owner's own table holds its round, as a real round leaves it: push/pull sends it
				m.broadcast("s "+health.KeyString(ks[i]), encodeState(st))
			}
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// BenchmarkGossip reports the octets each member sends per second (gossip over UDP, push/pull over TCP,
// after compression and encryption, and the states' own octets before them), the states still queued at
// the end, and the share of the targets another member owns whose state shared during the window reached
// the first member.
func BenchmarkGossip(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			installSink(b)
			ks := benchKeys(n)
			ms, mons := benchFleet(b, ks)
			stop, wg := make(chan struct{}), &sync.WaitGroup{}
			for i, m := range ms {
				wg.Add(1)
				go rounds(m, mons[i], ks, stop, wg)
			}
			defer func() { close(stop); wg.Wait() }()
			time.Sleep(benchInterval) // one interval: every owned state queued once

			b.ResetTimer()
			start := time.Now()
			udp0, tcp0 := sink.udp.Load(), sink.tcp.Load()
			payload0 := testutil.ToFloat64(sentBytes.WithLabelValues("gossip"))
			// The age of the oldest state a member holds of the targets it does not own, the worst over
			// the window after its first interval (the states the members started with are older),
			// sampled every second: the owners round every interval, so anything past one interval is
			// what the carriers (gossip, push/pull) left waiting.
			var oldest time.Duration
			for range b.N {
				for end := time.Now().Add(gossipWindow); time.Now().Before(end); time.Sleep(time.Second) {
					now := time.Now()
					if now.Sub(start) < benchInterval {
						continue
					}
					for _, s := range mons[0].Shared() {
						if !ms[0].owns(s.Key) {
							oldest = max(oldest, now.Sub(s.Checked))
						}
					}
				}
			}
			secs := time.Since(start).Seconds()
			udp, tcp := sink.udp.Load()-udp0, sink.tcp.Load()-tcp0
			payload := testutil.ToFloat64(sentBytes.WithLabelValues("gossip")) - payload0
			b.StopTimer()

			fresh, others := 0, 0
			for _, s := range mons[0].Shared() {
				if ms[0].owns(s.Key) {
					continue
				}
				others++
				if s.Checked.After(start) {
					fresh++
				}
			}
			queued := 0
			for _, m := range ms {
				queued += m.q.NumQueued()
			}
			per := float64(benchMembers) * secs
			b.ReportMetric(float64(udp+tcp)/per, "octets/s/member")
			b.ReportMetric(float64(udp)/per, "udp-octets/s/member")
			b.ReportMetric(float64(tcp)/per, "tcp-octets/s/member")
			b.ReportMetric(payload/per, "state-octets/s/member")
			b.ReportMetric(float64(queued)/benchMembers, "queued/member")
			b.ReportMetric(float64(fresh)/float64(max(others, 1)), "fresh-fraction")
			b.ReportMetric(oldest.Seconds(), "oldest-state-s")
		})
	}
}

// BenchmarkGossipJoin reports how long a member that joins a fleet of benchMembers takes to hold every
// target's state (ns/op), and the octets of the state it pulls.
func BenchmarkGossipJoin(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			installSink(b)
			ks := benchKeys(n)
			ms, _ := benchFleet(b, ks)
			size := len(encodeStates(ms[0].states()))
			cfg := health.Config{Interval: benchInterval, Timeout: time.Second, MaxTargets: 2 * n}
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				mon := health.New(cfg, noResolver{}, noProber, nil)
				tcp0 := sink.tcp.Load()
				b.StartTimer()
				m, leave := leavingMember(b, Config{Bind: freeAddr(b), Key: make([]byte, 32), Peers: []string{ms[0].cfg.Bind.String()}}, mon)
				select {
				case <-m.synced:
				case <-time.After(2 * JoinWait):
					b.Fatal("never synced")
				}
				b.StopTimer()
				if got := mon.Len(); got != n {
					b.Fatalf("the new member holds %d targets once ready, want %d", got, n)
				}
				b.ReportMetric(float64(sink.tcp.Load()-tcp0), "tcp-octets/join")
				leave()
				mon.Stop()
				b.StartTimer()
			}
			b.ReportMetric(float64(size), "state-octets")
		})
	}
}
