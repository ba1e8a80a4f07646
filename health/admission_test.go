package health

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/probe"
)

// seenTwice registers k through the query path's Check in two windows of touchEvery, so it counts as a
// target clients keep asking for.
func seenTwice(m *Monitor, k Key) {
	m.Check(k, "example.com")
	time.Sleep(time.Duration(m.touchEvery) + time.Millisecond)
	m.Check(k, "example.com")
}

// TestAdmission: at MaxTargets, names seen once are refused, never displace the targets clients keep
// asking for, and make room for a name asked for again (issue 20 item 2: first come, first served let a
// flood push real targets out, and their dead ones were served unfiltered). A key is refused for good only
// when nothing may be evicted.
func TestAdmission(t *testing.T) {
	requireEmptyRegistry(t)
	r, p, ev := newResolver(), newProber(), &recorder{}
	cfg := testConfig()
	cfg.Interval = time.Second // touchEvery = 500 ms; no round runs during the test
	cfg.MaxTargets = 10
	m := start(t, cfg, r, p, ev)
	m.touchEvery = int64(5 * time.Millisecond)

	var real []Key
	for i := range 5 {
		k := key(fmt.Sprintf("real%d.example.com.", i))
		seenTwice(m, k)
		real = append(real, k)
	}
	for i := range 500 {
		m.Check(key(fmt.Sprintf("flood%d.attacker.test.", i)), "attacker.test")
	}
	if m.Len() != cfg.MaxTargets {
		t.Errorf("table holds %d, want %d", m.Len(), cfg.MaxTargets)
	}
	for _, k := range real {
		if _, ok := m.lookup(k); !ok {
			t.Errorf("%s, seen twice, displaced by names seen once", k.Target)
		}
	}
	// The doorkeeper (a Bloom filter) lets a few percent of names seen once in, each in place of another.
	evicted, overflowed := len(ev.events("evicted", Key{})), len(ev.events("overflow", Key{}))
	if evicted+overflowed != 495 || evicted > 30 {
		t.Errorf("%d evicted, %d refused; want 495 in all, at most 30 evicted", evicted, overflowed)
	}

	// A name refused once and asked for again takes the place of the oldest name seen once.
	again := key("again.example.com.")
	m.Check(again, "example.com")
	if _, ok := m.lookup(again); ok && evicted == len(ev.events("evicted", Key{})) {
		t.Fatal("admitted at its first sighting without evicting: the table was not full")
	}
	m.Check(again, "example.com")
	if _, ok := m.lookup(again); !ok {
		t.Error("a name asked for again was not admitted")
	}
	for _, k := range real {
		if _, ok := m.lookup(k); !ok {
			t.Errorf("%s displaced by a name asked for twice", k.Target)
		}
	}

	// With every entry kept, a name is refused even when asked for again.
	for i := range 500 {
		if k := key(fmt.Sprintf("flood%d.attacker.test.", i)); m.table.get(k) != nil {
			seenTwice(m, k)
		}
	}
	seenTwice(m, again)
	late := key("late.example.com.")
	m.Check(late, "example.com")
	m.Check(late, "example.com")
	if _, ok := m.lookup(late); ok {
		t.Error("a new name displaced a kept target")
	}
}

// TestOutOfScopeMakesRoom: a target whose addresses all lie outside the scope is never probed, is not
// resolved again before its TTL, and is the first to make room, even when clients keep asking for it
// (issue 20 items 1 and 2).
func TestOutOfScopeMakesRoom(t *testing.T) {
	requireEmptyRegistry(t)
	r, p, ev := newResolver(), newProber(), &recorder{}
	cfg := testConfig()
	cfg.MaxTargets = 3
	cfg.Scope = func(a netip.Addr) bool { return netip.MustParsePrefix("192.0.2.0/24").Contains(a) }
	m := start(t, cfg, r, p, ev)
	m.touchEvery = int64(time.Millisecond)

	outside := key("outside.attacker.test.")
	r.set(outside.Target, Resolution{Addrs: addrs("198.51.100.1"), TTL: 300})
	for i := range 3 {
		r.set(key(fmt.Sprintf("in%d.example.com.", i)).Target, Resolution{Addrs: addrs(fmt.Sprintf("192.0.2.%d", i+1))})
	}
	// Asked for all the time, it is still out of scope.
	stop := repeat(2*time.Millisecond, func() { m.Check(outside, "attacker.test") })
	waitFor(t, "out of scope settled", func() bool { return m.Settled(outside) })
	time.Sleep(20 * cfg.Interval)
	if n := r.calls.Load(); n != 1 {
		t.Errorf("out-of-scope target (TTL 300) resolved %d times in 20 intervals, want once", n)
	}
	if n := p.callsTo(netip.MustParseAddr("198.51.100.1")); n != 0 {
		t.Errorf("out-of-scope address probed %d times", n)
	}
	for i := range 3 {
		k := key(fmt.Sprintf("in%d.example.com.", i))
		seenTwice(m, k)
	}
	stop()
	for i := range 3 {
		if _, ok := m.lookup(key(fmt.Sprintf("in%d.example.com.", i))); !ok {
			t.Errorf("in%d refused while an out-of-scope target held a place", i)
		}
	}
	if _, ok := m.lookup(outside); ok {
		t.Error("the out-of-scope target kept its place")
	}
	if n := len(ev.events("evicted", outside)); n == 0 {
		t.Error("no eviction of the out-of-scope target reported")
	}
}

// TestSeenOnceBacksOff: a target nobody asks for again is probed less and less often (its rounds double
// apart, up to Expire) rather than every interval until it expires; a sighting brings its next round back
// to one interval after the last (issue 20: a name seen once must cost a bounded, small amount).
func TestSeenOnceBacksOff(t *testing.T) {
	requireEmptyRegistry(t)
	r, p := newResolver(), newProber()
	once, asked := key("once.example.com."), key("asked.example.com.")
	a1, a2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	r.set(once.Target, Resolution{Addrs: []netip.Addr{a1}})
	r.set(asked.Target, Resolution{Addrs: []netip.Addr{a2}})
	cfg := testConfig() // interval 20 ms
	m := start(t, cfg, r, p, nil)
	m.Check(once, "example.com")
	m.Check(asked, "example.com")
	deadline := time.Now().Add(1300 * time.Millisecond)
	for time.Now().Before(deadline) {
		m.Check(asked, "example.com")
		time.Sleep(5 * time.Millisecond)
	}
	// 1.3 s is 65 intervals: the asked target has ~65 rounds; the other 20, 40, ... 640 ms apart: at most
	// 7 (the first within one interval, then 1+2+4+8+16+32 = 63 intervals).
	if n := p.callsTo(a1); n < 3 || n > 7 {
		t.Errorf("target seen once probed %d times in 65 intervals, want 3 to 7", n)
	}
	if n, once := p.callsTo(a2), p.callsTo(a1); n < 20 || n < 3*once {
		t.Errorf("target asked for all along probed %d times in 65 intervals, want 20 or more and 3 times the other's %d", n, once)
	}
	// Seen again: probed again within a few intervals, not at the end of its back-off.
	before := p.callsTo(a1)
	m.Check(once, "example.com")
	waitForWithin(t, "the idle target probed again", 10*cfg.Interval, func() bool { return p.callsTo(a1) > before })
}

// waitForWithin is waitFor with a deadline of its own.
func waitForWithin(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestServerBudget: however many keys point at one server (a wildcard SRV gives one per domain for the
// probes that carry the domain), at most MaxPerServer probes an interval reach it, a quarter of them for
// keys seen once; the keys clients keep asking for are still probed every interval (issue 20 item 3:
// 300 names gave 1,600 connections in 5 s to one server).
func TestServerBudget(t *testing.T) {
	requireEmptyRegistry(t)
	r, ev := newResolver(), &recorder{}
	var mu sync.Mutex
	var starts []time.Time
	p := proberFunc(func(ctx context.Context, tg probe.Target) probe.Result {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		return probe.Result{Up: true}
	})
	xmpp := probe.Method{Kind: probe.KindXMPPClient}
	cfg := testConfig()
	cfg.Interval = 100 * time.Millisecond
	cfg.MaxPerServer = 8
	m := start(t, cfg, r, p, ev)
	m.touchEvery = int64(time.Millisecond)
	r.set("xmpp.example.com.", Resolution{Addrs: addrs("192.0.2.1")})
	kept := NewKey("xmpp.example.com.", 5222, xmpp, "example.com")
	seenTwice(m, kept)
	for i := range 300 {
		k := NewKey("xmpp.example.com.", 5222, xmpp, fmt.Sprintf("r%d.users.example.com", i))
		m.Check(k, k.Domain)
	}
	end := time.Now().Add(10 * cfg.Interval)
	for time.Now().Before(end) {
		m.Check(kept, "example.com")
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	ts := slices.Clone(starts)
	mu.Unlock()
	// Windows restart at the first probe after one ends: any span of one interval overlaps two of them.
	for i := range ts {
		n := 0
		for _, t2 := range ts[i:] {
			if t2.Sub(ts[i]) < cfg.Interval {
				n++
			}
		}
		if n > 2*cfg.MaxPerServer {
			t.Fatalf("%d probes of one server within one interval, bound %d", n, 2*cfg.MaxPerServer)
		}
	}
	if len(ts) > 11*cfg.MaxPerServer {
		t.Errorf("%d probes in 10 intervals, bound %d", len(ts), 11*cfg.MaxPerServer)
	}
	if len(ev.events("deferred", Key{})) == 0 {
		t.Error("no deferred probe reported")
	}
	if n := len(ev.events("probe", kept)); n < 5 {
		t.Errorf("the kept key was probed %d times in 10 intervals, want 5 or more", n)
	}
}

// TestNothingReportedAfterForgotten: a round that was probing when its target expired reports nothing
// once Forgotten was reported (issue 20 item 7: the certificate-expiry series and its users came back for
// good, 10 of 50 forgotten targets with a hung TLS probe).
func TestNothingReportedAfterForgotten(t *testing.T) {
	requireEmptyRegistry(t)
	r, p, ev := newResolver(), newProber(), &recorder{}
	p.block.Store(true)
	cfg := testConfig()
	cfg.Timeout = 60 * time.Millisecond
	cfg.Expire = 40 * time.Millisecond
	m := start(t, cfg, r, p, ev)
	var keys []Key
	for i := range 50 {
		k := key(fmt.Sprintf("t%d.example.com.", i))
		r.set(k.Target, Resolution{Addrs: []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})}})
		m.Observe(k, "example.com")
		keys = append(keys, k)
	}
	waitFor(t, "every target forgotten", func() bool { return len(ev.events("forgotten", Key{})) >= 50 })
	time.Sleep(3 * cfg.Timeout) // rounds still probing when their target went have finished
	ev.mu.Lock()
	defer ev.mu.Unlock()
	forgotten := map[Key]bool{}
	for _, e := range ev.evs {
		switch {
		case e.kind == "forgotten":
			forgotten[e.key] = true
		case forgotten[e.key]:
			t.Errorf("%s reported for %s after Forgotten", e.kind, e.key.Target)
		}
	}
}

// TestFirstStatusHasUntil: the status Check returns for a key it has just registered says the state can
// change now, not never (issue 20 item 6: a zero Until let the first answer carry max_ttl, and a resolver
// cached a dead target that long). The monitor is not started, so no round has placed it yet.
func TestFirstStatusHasUntil(t *testing.T) {
	requireEmptyRegistry(t)
	m := New(testConfig(), newResolver(), factory(newProber()), nil)
	defer m.Stop()
	st, ok := m.Check(key("new.example.com."), "example.com")
	if !ok || st.Until.IsZero() || st.Until.After(time.Now()) {
		t.Errorf("first status %+v, %v: want Until set, not after now", st, ok)
	}
	if st.State != Unknown || st.Resolved {
		t.Errorf("first status %+v: want unknown, unresolved", st)
	}
}

// TestServerBudgetWindows: the budget of a server restarts one interval after its window started, for
// kept targets and the quarter left to the rest; a server probed every interval keeps its window across
// sweeps and its probes allocate nothing; one not probed for two intervals leaves the map.
func TestServerBudgetWindows(t *testing.T) {
	b := serverBudget{limit: 8, every: 10 * time.Second}
	ap := netip.MustParseAddrPort("192.0.2.1:5060")
	t0 := time.Now()
	take := func(at time.Duration, kept bool) bool { return b.take(ap, t0.Add(at), kept) }
	if !take(0, false) || !take(time.Second, false) {
		t.Fatal("the first two probes for targets not kept were refused, want 2 (a quarter of 8)")
	}
	if take(2*time.Second, false) {
		t.Fatal("a third probe for a target not kept was allowed within the interval")
	}
	for i := range 6 {
		if !take(3*time.Second, true) {
			t.Fatalf("kept probe %d refused, want 6 more (8 in all)", i+1)
		}
	}
	if take(9*time.Second, true) {
		t.Fatal("a ninth probe was allowed within the interval")
	}
	w := b.m[ap]
	if !take(10*time.Second, false) {
		t.Fatal("refused once the interval had passed")
	}
	if b.m[ap] != w {
		t.Error("the window was replaced, want it restarted in place")
	}
	b.sweep(t0.Add(25 * time.Second))
	if b.m[ap] != w {
		t.Fatal("swept a server probed within the last two intervals")
	}
	if n := testing.AllocsPerRun(100, func() { take(40*time.Second, true); b.sweep(t0.Add(45 * time.Second)) }); n != 0 {
		t.Errorf("%v allocations per probe of a known server, want 0", n)
	}
	b.sweep(t0.Add(60 * time.Second))
	if len(b.m) != 0 {
		t.Errorf("%d windows left after two intervals without a probe, want 0", len(b.m))
	}
}

// BenchmarkServerBudget: one probe of each of 10,000 servers per interval, with the monitor's sweep every
// interval: the per-probe cost of the budget at 10,000 targets.
func BenchmarkServerBudget(b *testing.B) {
	const n = 10000
	sb := serverBudget{limit: DefaultMaxPerServer, every: 10 * time.Second}
	aps := make([]netip.AddrPort, n)
	for i := range aps {
		aps[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5060)
	}
	now := time.Now()
	step := sb.every / n // the probes of one interval, spread over it
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(step)
		sb.take(aps[i%n], now, true)
		if i%n == n-1 {
			sb.sweep(now)
		}
	}
}
