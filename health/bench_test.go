package health

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/probe"
)

// benchMonitor returns a Monitor holding n targets, not started: the benchmarks measure the query path
// alone.
func benchMonitor(b *testing.B, n int) (*Monitor, []Key) {
	b.Helper()
	cfg := testConfig()
	cfg.Interval = time.Hour
	cfg.MaxTargets = n
	m := New(cfg, newResolver(), factory(newProber()), nil)
	b.Cleanup(m.Stop)
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = key(targetName(i))
		m.Observe(keys[i], "example.com")
	}
	return m, keys
}

func BenchmarkLookup(b *testing.B) {
	m, keys := benchMonitor(b, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := m.lookup(keys[i%len(keys)]); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkObserveKnown(b *testing.B) {
	m, keys := benchMonitor(b, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.Observe(keys[i%len(keys)], "example.com")
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	m, keys := benchMonitor(b, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			m.lookup(keys[i%len(keys)])
		}
	})
}

func BenchmarkObserveKnownParallel(b *testing.B) {
	m, keys := benchMonitor(b, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			m.Observe(keys[i%len(keys)], "example.com")
		}
	})
}

// BenchmarkHungTargets measures, at full size, the README's promise that a dead target leaves the answers
// within interval x fails + timeout while 1,000 other targets are blackholed (a site that lost power): real
// TCP probes, 1,000 targets on a listener whose accept queue is full (the kernel drops their SYNs, so each
// connect hangs until the timeout), and one healthy target that then stops accepting and hangs too. The
// times are a tenth of the defaults (interval 1s, timeout 200ms, fails 3), the same ratio of timeout to
// interval and so the same number of probes hanging at once. It reports the dying target's time to down
// (ms-to-down, against bound-ms, the promise plus one interval) and the most goroutines seen.
//
//	go test -run '^$' -bench HungTargets -benchtime 1x ./health/
func BenchmarkHungTargets(b *testing.B) {
	for _, inFlight := range []int{64, DefaultMaxInFlight} {
		b.Run(fmt.Sprintf("in_flight=%d", inFlight), func(b *testing.B) {
			for b.Loop() {
				benchHungTargets(b, inFlight)
			}
		})
	}
}

func benchHungTargets(b *testing.B, inFlight int) {
	const hung = 1000
	cfg := Config{Interval: time.Second, Timeout: 200 * time.Millisecond, Fails: 3, Rises: 2, Expire: time.Hour, MaxInFlight: inFlight}
	hole := blackhole(b, "127.0.0.1")
	healthy := newBacklogListener(b, "127.0.0.2")
	go healthy.serve()

	r := newResolver()
	r.set("healthy.example.com.", Resolution{Addrs: []netip.Addr{healthy.addr.Addr()}})
	m := New(cfg, r, func(probe.Method) (probe.Prober, error) {
		return probe.New(probe.Method{Kind: probe.KindTCP, Transport: probe.TCP}, probe.Options{})
	}, nil)
	defer m.Stop()
	m.Start()
	key := func(name string, port uint16) Key {
		return Key{Target: name, Port: port, Method: probe.Method{Kind: probe.KindTCP, Transport: probe.TCP}}
	}
	var keys []Key
	for i := range hung {
		k := key(targetName(i), hole.Port())
		r.set(k.Target, Resolution{Addrs: []netip.Addr{hole.Addr()}})
		m.Observe(k, "example.com")
		keys = append(keys, k)
	}
	hk := key("healthy.example.com.", healthy.addr.Port())
	m.Observe(hk, "example.com")

	peak := 0
	poll := func(what string, within time.Duration, cond func() bool) {
		deadline := time.Now().Add(within)
		for !cond() {
			peak = max(peak, runtime.NumGoroutine())
			if time.Now().After(deadline) {
				b.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	poll("the blackholed targets down and the healthy one up", 2*time.Minute, func() bool {
		for _, k := range keys {
			if st, _ := m.lookup(k); st.State != Down {
				return false
			}
		}
		st, _ := m.lookup(hk)
		return st.State == Up
	})
	dying := time.Now()
	healthy.hang()
	poll("the dying target down", 2*time.Minute, func() bool { st, _ := m.lookup(hk); return st.State == Down })
	took := time.Since(dying)
	b.ReportMetric(float64(took.Milliseconds()), "ms-to-down")
	b.ReportMetric(float64((cfg.Interval*time.Duration(cfg.Fails+1) + cfg.Timeout).Milliseconds()), "bound-ms")
	b.ReportMetric(float64(peak), "goroutines")
}

// backlogListener is a TCP listener with an accept queue of one: while serve accepts, connects complete;
// once it stops, the queue fills and the kernel drops every further SYN, so connects hang like those to a
// host that lost power, on loopback.
type backlogListener struct {
	l    *net.TCPListener
	addr netip.AddrPort
}

func newBacklogListener(tb testing.TB, ip string) *backlogListener {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	sa := &syscall.SockaddrInet4{Addr: netip.MustParseAddr(ip).As4()}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		tb.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		syscall.Close(fd)
		tb.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "backlog listener")
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return &backlogListener{l: l.(*net.TCPListener), addr: netip.MustParseAddrPort(l.Addr().String())}
}

// serve accepts and closes connections until hang.
func (bl *backlogListener) serve() {
	for {
		c, err := bl.l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// hang stops accepting and fills the accept queue: from then on every connect hangs.
func (bl *backlogListener) hang() {
	bl.l.SetDeadline(time.Unix(1, 0))
	for range 2 {
		d := net.Dialer{Timeout: 100 * time.Millisecond}
		if c, err := d.Dial("tcp", bl.addr.String()); err == nil {
			defer c.Close()
		}
	}
}

// blackhole returns an address on ip where every connect hangs.
func blackhole(tb testing.TB, ip string) netip.AddrPort {
	tb.Helper()
	bl := newBacklogListener(tb, ip)
	bl.hang()
	d := net.Dialer{Timeout: 100 * time.Millisecond}
	if c, err := d.Dial("tcp", bl.addr.String()); err == nil {
		c.Close()
		tb.Fatal("blackhole: a connect completed")
	}
	return bl.addr
}

// BenchmarkTableFlood fills a table with names each seen once, then mixes the Checks of a steady set of
// real targets (asked for again and again, half the table) with more of that flood, one of each per
// iteration. It reports the real targets' hit rate (the share of their Checks that found them monitored:
// a miss is a real target served unfiltered; each misses at its first sighting, refused at a full table,
// and is admitted at its second) and the heap each table entry costs. The monitor is not started: this is
// the table and its admission alone. First come, first served (before issue 20) scored 0%.
func BenchmarkTableFlood(b *testing.B) {
	const real, maxTargets = 1000, 2000
	cfg := testConfig()
	cfg.Interval = time.Hour
	cfg.MaxTargets = maxTargets
	keys := make([]Key, real)
	for i := range keys {
		keys[i] = key(targetName(i))
	}
	fill := func(m *Monitor) {
		for i := range maxTargets {
			m.Check(key(fmt.Sprintf("fill%d.attacker.test.", i)), "attacker.test")
		}
	}

	// Memory per entry: weigh a table filled with maxTargets names.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := New(cfg, newResolver(), factory(newProber()), nil)
	fill(m)
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := float64(after.HeapAlloc-before.HeapAlloc) / maxTargets
	m.Stop()

	m = New(cfg, newResolver(), factory(newProber()), nil)
	b.Cleanup(m.Stop)
	m.touchEvery = 0 // every Check at a later nanosecond is a sighting of its own
	fill(m)
	var hits, asked int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := m.Check(keys[i%real], "example.com"); ok {
			hits++
		}
		asked++
		m.Check(key("flood"+strconv.Itoa(i)+".attacker.test."), "attacker.test")
	}
	b.StopTimer()
	b.ReportMetric(100*float64(hits)/float64(asked), "real-hit-%")
	b.ReportMetric(perEntry, "B/entry")
	if asked >= 2*real && hits < asked-real {
		b.Errorf("real targets found in %d of %d Checks during the flood, want all but their first sightings (%d)", hits, asked, real)
	}
}
