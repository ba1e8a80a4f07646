package health

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/srvhealth/srvhealth/probe"
)

// TestDownAfterFailsUpAfterRises checks that a brand-new failing target goes down after exactly `fails`
// failed probes, and comes back after exactly `rises` successes.
func TestDownAfterFailsUpAfterRises(t *testing.T) {
	requireEmptyRegistry(t)
	r, p, ev := newResolver(), newProber(), &recorder{}
	k := key("sip1.example.com.")
	addr := netip.MustParseAddr("192.0.2.1")
	r.set(k.Target, Resolution{Addrs: []netip.Addr{addr}})
	p.setDown(addr, true)
	m := start(t, testConfig(), r, p, ev)

	m.Observe(k, "example.com")
	if st, ok := m.lookup(k); !ok || st.State != Unknown || st.Resolved {
		t.Fatalf("fresh target: %+v %v", st, ok)
	}
	waitFor(t, "down", func() bool { st, _ := m.lookup(k); return st.State == Down })
	evs := ev.all(k)
	i := slices.IndexFunc(evs, func(e event) bool { return e.kind == "state" })
	if got := countProbes(evs[:i], false); got != 3 {
		t.Errorf("went down after %d failed probes, want 3 (events %+v)", got, evs[:i])
	}
	if e := evs[i]; e.from != Unknown || e.to != Down || e.reason != "192.0.2.1: connection refused" {
		t.Errorf("state change: %+v", e)
	}
	if st, _ := m.lookup(k); !slices.Equal(st.Down, []netip.Addr{addr}) || len(st.Up) != 0 || !st.Resolved {
		t.Errorf("down status: %+v", st)
	}

	p.setDown(addr, false)
	waitFor(t, "up", func() bool { st, _ := m.lookup(k); return st.State == Up })
	evs = ev.all(k)
	j := slices.IndexFunc(evs[i+1:], func(e event) bool { return e.kind == "state" }) + i + 1
	if got := countProbes(evs[i+1:j], true); got != 2 {
		t.Errorf("came up after %d successes, want 2", got)
	}
	if e := evs[j]; e.from != Down || e.to != Up {
		t.Errorf("state change: %+v", e)
	}
	if n := len(ev.events("state", k)); n != 2 {
		t.Errorf("%d state changes, want 2", n)
	}
	if n := len(ev.events("resolved", k)); n != 1 {
		t.Errorf("%d resolved events for an unchanged resolution, want 1", n)
	}
}

// countProbes counts the probe events with result up, and fails if another result is among them.
func countProbes(evs []event, up bool) int {
	n := 0
	for _, e := range evs {
		if e.kind != "probe" {
			continue
		}
		if e.up != up {
			return -1
		}
		n++
	}
	return n
}

// TestFlappingNeverFlips feeds alternating results: the target comes up on its first success and never
// goes down, because no run of failures reaches `fails`.
func TestFlappingNeverFlips(t *testing.T) {
	requireEmptyRegistry(t)
	r, p, ev := newResolver(), newProber(), &recorder{}
	p.seq = func(n int) bool { return n%2 == 0 } // -, +, -, +, ...
	k := key("flap.example.com.")
	r.set(k.Target, Resolution{Addrs: addrs("192.0.2.7")})
	cfg := testConfig()
	cfg.Fails, cfg.Rises = 2, 2
	m := start(t, cfg, r, p, ev)
	m.Observe(k, "example.com")
	waitFor(t, "20 probes", func() bool { return len(ev.events("probe", k)) >= 20 })
	m.Stop()
	changes := ev.events("state", k)
	if len(changes) != 1 || changes[0].from != Unknown || changes[0].to != Up {
		t.Errorf("state changes %+v, want only unknown -> up", changes)
	}
}

func TestCNAMEAndNoAddress(t *testing.T) {
	requireEmptyRegistry(t)
	r, p, ev := newResolver(), newProber(), &recorder{}
	cname, none, errs := key("alias.example.com."), key("standby.example.com."), key("broken.example.com.")
	r.set(cname.Target, Resolution{CNAME: true, Addrs: addrs("192.0.2.3")})
	r.err[errs.Target] = errors.New("SERVFAIL")
	m := start(t, testConfig(), r, p, ev)
	for _, k := range []Key{cname, none, errs} {
		m.Observe(k, "example.com")
	}
	waitFor(t, "settled", func() bool { return m.Settled(cname) && m.Settled(none) })
	waitFor(t, "cname probed", func() bool { st, _ := m.lookup(cname); return st.State == Up })

	st, _ := m.lookup(cname)
	if !st.CNAME || st.NoAddress || !st.Resolved || !slices.Equal(st.Up, addrs("192.0.2.3")) {
		t.Errorf("cname: %+v", st)
	}
	st, _ = m.lookup(none)
	if !st.NoAddress || st.CNAME || !st.Resolved || st.State != Unknown || !st.Until.IsZero() {
		t.Errorf("no address: %+v", st)
	}
	if rs := ev.events("resolved", cname); len(rs) != 1 || !rs[0].res.CNAME {
		t.Errorf("cname resolved events: %+v", rs)
	}
	if rs := ev.events("resolved", none); len(rs) != 1 || len(rs[0].res.Addrs) != 0 {
		t.Errorf("no address resolved events: %+v", rs)
	}

	// A target whose resolution keeps failing is tried every round but never settles.
	waitFor(t, "resolver retried", func() bool { return r.calls.Load() >= 10 })
	if m.Settled(errs) {
		t.Errorf("a target that never resolved is settled")
	}
	if st, ok := m.lookup(errs); !ok || st.Resolved || st.State != Unknown {
		t.Errorf("unresolved: %+v %v", st, ok)
	}
	if n := len(ev.events("resolved", errs)); n != 0 {
		t.Errorf("%d resolved events for a failing resolution", n)
	}
}

// TestMultiAddress checks that a target is up while one address is up, lists its addresses by state,
// and probes at most MaxAddrs of them, from both families.
func TestMultiAddress(t *testing.T) {
	requireEmptyRegistry(t)
	r, p, ev := newResolver(), newProber(), &recorder{}
	k := key("multi.example.com.")
	r.set(k.Target, Resolution{Addrs: addrs("192.0.2.12", "2001:db8::1", "192.0.2.11", "192.0.2.10", "192.0.2.13", "192.0.2.14")})
	p.setDown(netip.MustParseAddr("192.0.2.10"), true)
	p.setDown(netip.MustParseAddr("2001:db8::1"), true)
	cfg := testConfig()
	cfg.MaxAddrs = 3
	m := start(t, cfg, r, p, ev)
	m.Observe(k, "example.com")
	waitFor(t, "two addresses down", func() bool { st, _ := m.lookup(k); return len(st.Down) == 2 })

	st, _ := m.lookup(k)
	if st.State != Up {
		t.Errorf("state %d, want up", st.State)
	}
	if !slices.Equal(st.Down, addrs("192.0.2.10", "2001:db8::1")) {
		t.Errorf("down %v", st.Down)
	}
	// Unprobed addresses (beyond MaxAddrs) are listed as up: unknown counts as up.
	if !slices.Equal(st.Up, addrs("192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14")) {
		t.Errorf("up %v", st.Up)
	}
	for _, a := range addrs("192.0.2.12", "192.0.2.13", "192.0.2.14") {
		if n := p.callsTo(a); n != 0 {
			t.Errorf("%s beyond MaxAddrs probed %d times", a, n)
		}
	}

	// All probed addresses down: the target goes down, once.
	p.setDown(netip.MustParseAddr("192.0.2.11"), true)
	waitFor(t, "down", func() bool { st, _ := m.lookup(k); return st.State == Down })
	if ch := ev.events("state", k); len(ch) != 2 || ch[1].to != Down {
		t.Errorf("state changes %+v", ch)
	}
}

func TestUntil(t *testing.T) {
	requireEmptyRegistry(t)
	r, p := newResolver(), newProber()
	up, down := key("up.example.com."), key("down.example.com.")
	r.set(up.Target, Resolution{Addrs: addrs("192.0.2.1")})
	r.set(down.Target, Resolution{Addrs: addrs("192.0.2.2")})
	p.setDown(netip.MustParseAddr("192.0.2.2"), true)
	cfg := testConfig()
	m := start(t, cfg, r, p, nil)

	m.Observe(up, "example.com")
	m.Observe(down, "example.com")
	// Before the first round, Until is the time of that round: within one interval.
	st, _ := m.lookup(up)
	waitFor(t, "first round placed", func() bool { st, _ = m.lookup(up); return !st.Until.IsZero() || st.Resolved })
	if !st.Resolved && st.Until.After(time.Now().Add(cfg.Interval)) {
		t.Errorf("first round at %v, more than an interval away", st.Until)
	}

	waitFor(t, "up and down", func() bool {
		su, _ := m.lookup(up)
		sd, _ := m.lookup(down)
		return su.State == Up && sd.State == Down
	})
	// Lookup returns one snapshot, so Until and Checked belong to the same round.
	su, _ := m.lookup(up)
	if want := su.Checked.Add(3 * cfg.Interval); su.Checked.IsZero() || !su.Until.Equal(want) {
		t.Errorf("up: until %v, want checked %v + 3 intervals (fails)", su.Until, su.Checked)
	}
	sd, _ := m.lookup(down)
	if want := sd.Checked.Add(2 * cfg.Interval); sd.Checked.IsZero() || !sd.Until.Equal(want) {
		t.Errorf("down: until %v, want checked %v + 2 intervals (rises)", sd.Until, sd.Checked)
	}
}

// TestScope checks that addresses outside the scope are never contacted, and that a target with no
// address in scope stays unknown yet settles.
func TestScope(t *testing.T) {
	requireEmptyRegistry(t)
	r, p, ev := newResolver(), newProber(), &recorder{}
	mixed, outside := key("mixed.example.com."), key("outside.example.com.")
	r.set(mixed.Target, Resolution{Addrs: addrs("192.0.2.1", "10.0.0.1")})
	r.set(outside.Target, Resolution{Addrs: addrs("10.0.0.2", "127.0.0.1")})
	p.setDown(netip.MustParseAddr("192.0.2.1"), true)
	cfg := testConfig()
	lan := netip.MustParsePrefix("10.0.0.0/8")
	cfg.Scope = func(a netip.Addr) bool { return !lan.Contains(a) && !a.IsLoopback() }
	m := start(t, cfg, r, p, ev)
	m.Observe(mixed, "example.com")
	m.Observe(outside, "example.com")
	waitFor(t, "mixed down", func() bool { st, _ := m.lookup(mixed); return st.State == Down })
	waitFor(t, "outside settled", func() bool { return m.Settled(outside) })
	waitFor(t, "more rounds", func() bool { return r.calls.Load() >= 12 })

	for _, a := range addrs("10.0.0.1", "10.0.0.2", "127.0.0.1") {
		if n := p.callsTo(a); n != 0 {
			t.Errorf("%s is out of scope but was probed %d times", a, n)
		}
	}
	if p.callsTo(netip.MustParseAddr("192.0.2.1")) < 3 {
		t.Errorf("the in-scope address was not probed")
	}
	st, _ := m.lookup(mixed)
	// The out-of-scope address is not known down: it is listed with the up (unknown) ones.
	if !slices.Equal(st.Down, addrs("192.0.2.1")) || !slices.Equal(st.Up, addrs("10.0.0.1")) {
		t.Errorf("mixed: %+v", st)
	}
	st, _ = m.lookup(outside)
	if st.State != Unknown || st.NoAddress || !st.Until.IsZero() || len(st.Up) != 2 {
		t.Errorf("outside: %+v", st)
	}
	if n := len(ev.events("probe", outside)); n != 0 {
		t.Errorf("%d probe events for a target out of scope", n)
	}
}

func TestMaxTargets(t *testing.T) {
	requireEmptyRegistry(t)
	r, p, ev := newResolver(), newProber(), &recorder{}
	cfg := testConfig()
	cfg.MaxTargets = 3
	m := start(t, cfg, r, p, ev)
	for i := range 5 {
		m.Observe(key(targetName(i)), "example.com")
	}
	m.Observe(key(targetName(0)), "example.com") // known: no overflow
	for range 5 {
		m.Observe(key(targetName(3)), "example.com") // refused already: reported once
	}
	if m.Len() != 3 {
		t.Errorf("len %d, want 3", m.Len())
	}
	ov := ev.events("overflow", Key{})
	if len(ov) != 2 || ov[0].key != key(targetName(3)) || ov[1].key != key(targetName(4)) {
		t.Errorf("overflow events %+v", ov)
	}
	if _, ok := m.lookup(key(targetName(4))); ok {
		t.Errorf("an overflowed key is monitored")
	}
	if _, ok := m.lookup(key(targetName(2))); !ok {
		t.Errorf("a key within the limit is not monitored")
	}
	if recs, _ := reg.size(); recs != 3 {
		t.Errorf("registry holds %d records, want 3", recs)
	}
}

// TestExpire checks that a target not observed for Expire is forgotten, and one kept alive is not.
func TestExpire(t *testing.T) {
	requireEmptyRegistry(t)
	r, p, ev := newResolver(), newProber(), &recorder{}
	cfg := testConfig()
	// Expire is long enough that the goroutine keeping "live" alive is never descheduled for as long,
	// even under -race on a busy machine.
	cfg.Expire = time.Second
	old, live := key("old.example.com."), key("live.example.com.")
	m := start(t, cfg, r, p, ev)
	m.Observe(old, "example.com")
	m.Observe(live, "example.com")
	stop := repeat(10*time.Millisecond, func() { m.Observe(live, "example.com") })
	waitFor(t, "forgotten", func() bool { return len(ev.events("forgotten", old)) > 0 })
	stop()
	if _, ok := m.lookup(old); ok {
		t.Errorf("expired key still monitored")
	}
	if n := len(ev.events("forgotten", old)); n != 1 {
		t.Errorf("%d forgotten events, want 1", n)
	}
	if m.Len() != 1 {
		t.Errorf("len %d, want 1", m.Len())
	}
	if _, ok := m.lookup(live); !ok || len(ev.events("forgotten", live)) != 0 {
		t.Errorf("a key observed all along was forgotten")
	}
	if recs, _ := reg.size(); recs != 1 {
		t.Errorf("registry holds %d records after expiry, want 1", recs)
	}
	// A forgotten key observed again starts afresh.
	m.Observe(old, "example.com")
	if st, ok := m.lookup(old); !ok || st.Resolved {
		t.Errorf("re-observed: %+v %v", st, ok)
	}
}

// TestMaxInFlight blackholes 200 targets of three addresses each: the probes in flight reach MaxInFlight
// and never pass it, and Stop cuts them short.
func TestMaxInFlight(t *testing.T) {
	requireEmptyRegistry(t)
	r, p := newResolver(), newProber()
	p.block.Store(true)
	cfg := testConfig()
	cfg.MaxInFlight = 8
	cfg.Timeout = 50 * time.Millisecond
	cfg.MaxTargets = 1000
	m := start(t, cfg, r, p, nil)
	for i := range 200 {
		k := key(targetName(i))
		r.set(k.Target, Resolution{Addrs: []netip.Addr{
			netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}),
			netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}),
			netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}),
		}})
		m.Observe(k, "example.com")
	}
	waitFor(t, "100 probes", func() bool { return p.total.Load() >= 100 })
	if got := p.max.Load(); got != int64(cfg.MaxInFlight) {
		t.Errorf("at most %d probes in flight, want exactly MaxInFlight %d", got, cfg.MaxInFlight)
	}
	m.Stop()
	if n := p.cur.Load(); n != 0 {
		t.Errorf("%d probes still running after Stop", n)
	}
	if got := p.max.Load(); got > int64(cfg.MaxInFlight) {
		t.Errorf("%d probes in flight, more than %d", got, cfg.MaxInFlight)
	}
}

// TestObserveDoesNotBlock observes thousands of new and known targets while every probe slot is held by
// a probe that would hang for a minute.
func TestObserveDoesNotBlock(t *testing.T) {
	requireEmptyRegistry(t)
	r, p := newResolver(), newProber()
	p.block.Store(true)
	p.linger = 100 * time.Millisecond
	cfg := testConfig()
	cfg.MaxInFlight = 4
	cfg.Timeout = time.Minute
	m := start(t, cfg, r, p, nil)
	for i := range 10 {
		k := key(targetName(i))
		r.set(k.Target, Resolution{Addrs: addrs("192.0.2.1")})
		m.Observe(k, "example.com")
	}
	waitFor(t, "slots held", func() bool { return p.cur.Load() == int64(cfg.MaxInFlight) })

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5000 {
			m.Observe(key(targetName(i)), "example.com")
			m.lookup(key(targetName(i)))
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second): // the probes hang for a minute
		t.Fatal("Observe blocked while the probes hang")
	}
	if m.Len() != 5000 {
		t.Errorf("len %d, want 5000", m.Len())
	}
	stopped := make(chan struct{})
	go func() { m.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("Stop waited for hanging probes")
	}
	// Stop cut the probes short but waited for them to return.
	if n := p.cur.Load(); n != 0 {
		t.Errorf("%d probes still running after Stop", n)
	}
}

// TestProbeTarget checks what a probe is given: the address with the key's port, the first service
// domain seen, and the target without its trailing dot.
func TestProbeTarget(t *testing.T) {
	requireEmptyRegistry(t)
	r, p := newResolver(), newProber()
	k := Key{Target: "sip1.example.com.", Port: 5061, Method: probe.Method{Kind: probe.KindTLS, Transport: probe.TLS}}
	r.set(k.Target, Resolution{Addrs: addrs("2001:db8::5")})
	var methods []probe.Method
	m := New(testConfig(), r, func(mt probe.Method) (probe.Prober, error) {
		methods = append(methods, mt) // only the worker calls it, under the monitor's lock
		return p, nil
	}, nil)
	t.Cleanup(m.Stop)
	m.Observe(k, "example.com")
	m.Observe(k, "other.example") // first seen wins
	m.Start()
	waitFor(t, "probed", func() bool { return p.total.Load() >= 2 })
	m.Stop()
	p.mu.Lock()
	got := p.targets[netip.MustParseAddr("2001:db8::5")]
	p.mu.Unlock()
	want := probe.Target{Addr: netip.MustParseAddrPort("[2001:db8::5]:5061"), Domain: "example.com", Host: "sip1.example.com"}
	if got != want {
		t.Errorf("probe target %+v, want %+v", got, want)
	}
	if len(methods) != 1 || methods[0] != k.Method {
		t.Errorf("prober built for %v, want once for %v", methods, k.Method)
	}
}

// TestProberError checks that a method without a prober leaves its targets unknown (never down) and
// settled.
func TestProberError(t *testing.T) {
	requireEmptyRegistry(t)
	r, ev := newResolver(), &recorder{}
	k := key("sip1.example.com.")
	r.set(k.Target, Resolution{Addrs: addrs("192.0.2.1")})
	m := New(testConfig(), r, func(probe.Method) (probe.Prober, error) { return nil, errors.New("unknown probe") }, ev)
	t.Cleanup(m.Stop)
	m.Start()
	m.Observe(k, "example.com")
	waitFor(t, "settled", func() bool { return m.Settled(k) })
	waitFor(t, "rounds", func() bool { return r.calls.Load() >= 3 })
	if st, _ := m.lookup(k); st.State != Unknown || len(st.Down) != 0 {
		t.Errorf("status %+v", st)
	}
	if n := len(ev.events("probe", k)) + len(ev.events("state", k)); n != 0 {
		t.Errorf("%d probe or state events without a prober", n)
	}
}

// TestReload plays a Corefile reload: the new Monitor starts before the old one stops, and sees the old
// one's states whether it observes a target before or after the old one stops.
func TestReload(t *testing.T) {
	requireEmptyRegistry(t)
	r, p := newResolver(), newProber()
	early, late := key("early.example.com."), key("late.example.com.")
	for _, k := range []Key{early, late} {
		r.set(k.Target, Resolution{Addrs: addrs("192.0.2.1")})
	}
	p.setDown(netip.MustParseAddr("192.0.2.1"), true)
	oldEv := &recorder{}
	old := start(t, testConfig(), r, p, oldEv)
	old.Observe(early, "example.com")
	old.Observe(late, "example.com")
	waitFor(t, "down", func() bool {
		a, _ := old.lookup(early)
		b, _ := old.lookup(late)
		return a.State == Down && b.State == Down
	})

	// The new instance's probes would say up: anything but Down below means the state was not carried.
	p2 := newProber()
	p2.block.Store(true)
	newEv := &recorder{}
	cfg := testConfig()
	cfg.Interval = time.Hour // no round of its own during the test
	nw := start(t, cfg, r, p2, newEv)
	nw.Observe(early, "example.com")
	if st, ok := nw.lookup(early); !ok || st.State != Down || !st.Resolved || !nw.Settled(early) {
		t.Errorf("new monitor, old one running: %+v", st)
	}
	old.Stop()
	if n := len(oldEv.events("forgotten", Key{})); n != 0 {
		t.Errorf("stopping the old monitor during a reload forgot %d keys", n)
	}
	nw.Observe(late, "example.com")
	if st, _ := nw.lookup(late); st.State != Down {
		t.Errorf("new monitor, old one stopped: %+v", st)
	}
	if n := len(newEv.events("state", Key{})); n != 0 {
		t.Errorf("adopting states reported %d state changes", n)
	}
	nw.Stop()
	requireEmptyRegistry(t)
	if n := len(newEv.events("forgotten", Key{})); n != 2 {
		t.Errorf("the last monitor's stop forgot %d keys, want 2", n)
	}
}

// TestReloadCycles runs 25 reloads, each new Monitor started before the old one stops, and 25 plain
// create/stop cycles: the registry stays bounded and ends empty, and no goroutine is left behind.
func TestReloadCycles(t *testing.T) {
	requireEmptyRegistry(t)
	r, p := newResolver(), newProber()
	cfg := testConfig()
	cfg.Expire = 50 * time.Millisecond
	var prev *Monitor
	for i := range 25 {
		m := New(cfg, r, factory(p), nil)
		m.Start()
		// Each generation sees one target of its own and one shared by all.
		m.Observe(key("shared.example.com."), "example.com")
		m.Observe(key(targetName(i)), "example.com")
		if prev != nil {
			prev.Stop()
		}
		prev = m
		if recs, live := reg.size(); live != 1 || recs > 25+2 {
			t.Fatalf("cycle %d: %d records, %d running monitors", i, recs, live)
		}
	}
	// Orphans of earlier generations expire while the last monitor runs.
	waitFor(t, "orphans swept", func() bool { recs, _ := reg.size(); return recs <= 2 })
	prev.Stop()
	requireEmptyRegistry(t)

	for i := range 25 {
		m := New(cfg, r, factory(p), nil)
		m.Start()
		m.Observe(key(targetName(i)), "example.com")
		waitFor(t, "probed", func() bool { return m.Settled(key(targetName(i))) })
		m.Stop()
		m.Stop() // idempotent
		requireEmptyRegistry(t)
	}
	goleak.VerifyNone(t)
}

func TestStopWithoutStart(t *testing.T) {
	requireEmptyRegistry(t)
	m := New(testConfig(), newResolver(), factory(newProber()), nil)
	m.Observe(key("sip1.example.com."), "example.com")
	if m.Len() != 1 {
		t.Fatalf("len %d", m.Len())
	}
	m.Stop()
	m.Start() // after Stop: nothing
	m.Observe(key("sip2.example.com."), "example.com")
	if m.Len() != 0 {
		t.Errorf("len %d after Stop", m.Len())
	}
	requireEmptyRegistry(t)
	goleak.VerifyNone(t)
}

// TestResolveAfter: what was learnt is not resolved again before its TTL, within [interval, expire]; a
// healthy target waits resolveEvery at the least; any other waits one interval after a change and backs off
// to 8 intervals while its resolution finds the same (issue 20 items 1 and 4: a dead or out-of-scope target
// was resolved again on every round, two upstream queries per interval for ever).
func TestResolveAfter(t *testing.T) {
	c := Config{Interval: 10 * time.Second, Expire: 10 * time.Minute}
	up := Status{Resolved: true, State: Up}
	down := Status{Resolved: true, State: Down}
	for _, tc := range []struct {
		name      string
		st        Status
		ttl       uint32
		unchanged int
		want      time.Duration
	}{
		{"healthy, short TTL", up, 5, 3, resolveEvery},
		{"healthy, TTL 300", up, 300, 0, 300 * time.Second},
		{"healthy, TTL past expire", up, 86400, 0, 10 * time.Minute},
		{"down, changed", down, 0, 0, 10 * time.Second},
		{"down, same once", down, 0, 1, 20 * time.Second},
		{"down, same 3 times", down, 0, 3, 80 * time.Second},
		{"down, same 50 times", down, 0, 50, 80 * time.Second},
		{"down, TTL 300", down, 300, 0, 300 * time.Second},
		{"out of scope (unknown), TTL 3600", Status{Resolved: true}, 3600, 0, 10 * time.Minute},
		{"cname", Status{Resolved: true, State: Up, CNAME: true}, 0, 2, 40 * time.Second},
		{"up with a down address", Status{Resolved: true, State: Up, Down: addrs("192.0.2.9")}, 0, 0, 10 * time.Second},
	} {
		if got := resolveAfter(&c, tc.st, tc.ttl, tc.unchanged); got != tc.want {
			t.Errorf("%s: resolveAfter = %v, want %v", tc.name, got, tc.want)
		}
	}
	long := Config{Interval: time.Minute, Expire: 30 * time.Second}
	if got := resolveAfter(&long, up, 0, 0); got != time.Minute {
		t.Errorf("interval above expire and resolveEvery: %v, want one interval", got)
	}
	for errs, want := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 4: 80 * time.Second, 9: 80 * time.Second} {
		if got := retryAfter(&c, errs); got != want {
			t.Errorf("retryAfter(%d) = %v, want %v", errs, got, want)
		}
	}
}

// TestHealthyTargetNotResolvedEveryRound checks that a healthy target's resolution is reused while it is
// probed every interval, and that Check observes and looks up in one call.
func TestHealthyTargetNotResolvedEveryRound(t *testing.T) {
	requireEmptyRegistry(t)
	r, p := newResolver(), newProber()
	k := key("sip1.example.com.")
	r.set(k.Target, Resolution{Addrs: addrs("192.0.2.1")})
	m := start(t, testConfig(), r, p, nil)
	m.Observe(k, "example.com")
	waitFor(t, "ten probes", func() bool { return p.callsTo(netip.MustParseAddr("192.0.2.1")) >= 10 })
	if n := r.calls.Load(); n != 1 {
		t.Errorf("healthy target resolved %d times over 10 rounds, want once (resolveEvery %v)", n, resolveEvery)
	}
	if st, ok := m.Check(k, "example.com"); !ok || st.State != Up {
		t.Errorf("Check = %+v, %v; want up", st, ok)
	}
}

// TestNewKey checks which methods make the service domain part of a target's identity: those whose probe
// names it to the server (XMPP's stream 'to', TLS's SNI and certificate name).
func TestNewKey(t *testing.T) {
	for _, tc := range []struct {
		m          probe.Method
		withDomain bool
	}{
		{probe.Method{Kind: probe.KindNone}, false},
		{probe.Method{Kind: probe.KindTCP, Transport: probe.TCP}, false},
		{probe.Method{Kind: probe.KindSIP, Transport: probe.UDP}, false},
		{probe.Method{Kind: probe.KindSIP, Transport: probe.TCP}, false},
		{probe.Method{Kind: probe.KindSIP, Transport: probe.TLS}, true},
		{probe.Method{Kind: probe.KindTLS, Transport: probe.TLS}, true},
		{probe.Method{Kind: probe.KindXMPPClient, Transport: probe.TCP}, true},
		{probe.Method{Kind: probe.KindXMPPClient, Transport: probe.TLS}, true},
		{probe.Method{Kind: probe.KindXMPPServer, Transport: probe.TCP}, true},
		{probe.Method{Kind: probe.KindXMPPServer, Transport: probe.TLS}, true},
	} {
		k := NewKey("XMPP.Example.COM.", 5222, tc.m, "a.example")
		want := Key{Target: "xmpp.example.com.", Port: 5222, Method: tc.m}
		if tc.withDomain {
			want.Domain = "a.example"
		}
		if k != want {
			t.Errorf("%v: NewKey = %+v, want %+v", tc.m, k, want)
		}
	}
}

// TestSharedTargetDomains checks that an XMPP target listed by two domains is probed once per domain,
// each probe naming its own, while a SIP-over-UDP target listed by two domains is probed once.
func TestSharedTargetDomains(t *testing.T) {
	requireEmptyRegistry(t)
	r, p := newResolver(), newProber()
	r.set("xmpp.example.com.", Resolution{Addrs: addrs("192.0.2.1")})
	r.set("sip.example.com.", Resolution{Addrs: addrs("192.0.2.2")})
	var mu sync.Mutex
	domains := map[string]bool{}
	m := start(t, testConfig(), r, proberFunc(func(ctx context.Context, tg probe.Target) probe.Result {
		mu.Lock()
		domains[tg.Addr.Addr().String()+" "+tg.Domain] = true
		mu.Unlock()
		return p.Probe(ctx, tg)
	}), nil)
	xmpp := probe.Method{Kind: probe.KindXMPPClient, Transport: probe.TCP}
	for _, d := range []string{"gone.example", "a.example"} {
		m.Observe(NewKey("xmpp.example.com.", 5222, xmpp, d), d)
		m.Observe(NewKey("sip.example.com.", 5060, sipUDP, d), d)
	}
	if m.Len() != 3 {
		t.Errorf("%d entries, want 3: one per domain for XMPP, one for SIP over UDP", m.Len())
	}
	waitFor(t, "probes", func() bool { return p.total.Load() >= 10 })
	m.Stop()
	mu.Lock()
	defer mu.Unlock()
	want := map[string]bool{"192.0.2.1 gone.example": true, "192.0.2.1 a.example": true, "192.0.2.2 gone.example": true}
	if !maps.Equal(domains, want) {
		t.Errorf("probed %v, want %v", domains, want)
	}
}

// TestHungTargetsDoNotDelayOthers blackholes 100 targets, ten times what MaxInFlight probes can wait on
// at once, and then a healthy target: it must leave the answers within interval x fails + timeout, plus
// one interval of slack for its phase, as the README promises. With a fixed pool of MaxInFlight workers
// each hung target held a worker for the whole timeout, every target's round slipped to one every
// 100 x timeout / MaxInFlight, and the dying target took several times as long.
func TestHungTargetsDoNotDelayOthers(t *testing.T) {
	requireEmptyRegistry(t)
	r, p, ev := newResolver(), newProber(), &recorder{}
	cfg := testConfig()
	cfg.Interval = 400 * time.Millisecond
	cfg.Timeout = 200 * time.Millisecond
	cfg.Fails = 2
	cfg.MaxInFlight = 8
	m := start(t, cfg, r, p, ev)

	var hung []Key
	for i := range 100 {
		k := key(targetName(i))
		a := netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i % 256)})
		r.set(k.Target, Resolution{Addrs: []netip.Addr{a}})
		// Refused first, so they are down after two quick rounds; then blackholed below.
		p.setDown(a, true)
		hung = append(hung, k)
		m.Observe(k, "example.com")
	}
	healthy, healthyAddr := key("healthy.example.com."), netip.MustParseAddr("192.0.2.1")
	r.set(healthy.Target, Resolution{Addrs: []netip.Addr{healthyAddr}})
	m.Observe(healthy, "example.com")
	waitFor(t, "the 100 down and the healthy one up", func() bool {
		for _, k := range hung {
			if st, _ := m.lookup(k); st.State != Down {
				return false
			}
		}
		st, _ := m.lookup(healthy)
		return st.State == Up
	})
	for i := range hung {
		p.setHang(netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i % 256)}), true)
	}
	waitFor(t, "blackholed probes in flight", func() bool { return p.cur.Load() >= 2 })
	time.Sleep(cfg.Interval) // let the hung rounds pile up

	dying := time.Now()
	p.setHang(healthyAddr, true)
	waitFor(t, "the dying target down", func() bool { st, _ := m.lookup(healthy); return st.State == Down })
	took := time.Since(dying)
	bound := cfg.Interval*time.Duration(cfg.Fails) + cfg.Timeout + cfg.Interval
	if took > bound {
		t.Errorf("a target that died behind 100 hung ones left after %v, want at most %v", took.Round(time.Millisecond), bound)
	}
	if got := p.max.Load(); got > int64(cfg.MaxInFlight) {
		t.Errorf("%d probes in flight, more than MaxInFlight %d", got, cfg.MaxInFlight)
	}
	// The hung ones are still probed, on the budget of the targets already down.
	total := p.total.Load()
	waitFor(t, "hung targets probed again", func() bool { return p.total.Load() >= total+20 })
}

// TestOverflowForgottenAfterExpire checks that a refused key is reported again once it went unobserved for
// Expire, as a monitored key would have been forgotten.
func TestOverflowForgottenAfterExpire(t *testing.T) {
	requireEmptyRegistry(t)
	ev := &recorder{}
	cfg := testConfig()
	cfg.MaxTargets = 1
	cfg.Expire = 200 * time.Millisecond
	m := start(t, cfg, newResolver(), newProber(), ev)
	kept, refused := key("kept.example.com."), key("refused.example.com.")
	m.Observe(kept, "example.com")
	m.Observe(refused, "example.com")
	m.Observe(refused, "example.com")
	if n := len(ev.events("overflow", refused)); n != 1 {
		t.Fatalf("%d overflow events, want 1", n)
	}
	deadline := time.Now().Add(4 * cfg.Expire)
	for time.Now().Before(deadline) {
		m.Observe(kept, "example.com")
		time.Sleep(10 * time.Millisecond)
	}
	m.Observe(refused, "example.com")
	if n := len(ev.events("overflow", refused)); n != 2 {
		t.Errorf("%d overflow events after the refused key went unobserved for Expire, want 2", n)
	}
	if m.nRefused.Load() != 1 {
		t.Errorf("%d refused keys remembered, want 1", m.nRefused.Load())
	}
}

// TestStartIsLazy checks that a started Monitor runs no goroutine until it is given a target, so that an
// instance CoreDNS starts and then drops (a reload that fails to bind) leaves nothing running.
func TestStartIsLazy(t *testing.T) {
	requireEmptyRegistry(t)
	r, p := newResolver(), newProber()
	k := key("sip1.example.com.")
	r.set(k.Target, Resolution{Addrs: addrs("192.0.2.1")})
	m := start(t, testConfig(), r, p, nil)
	goleak.VerifyNone(t)
	m.Observe(k, "example.com")
	waitFor(t, "probed", func() bool { return m.Settled(k) })
	m.Stop()
	goleak.VerifyNone(t)
}

// TestDiscard plays a reload that fails: the new Monitor starts beside the running one, takes a target of
// its own and one they share, and is discarded. Its own target leaves the registry at once; the shared one
// stays with the running Monitor.
func TestDiscard(t *testing.T) {
	requireEmptyRegistry(t)
	r, p, ev := newResolver(), newProber(), &recorder{}
	shared, own := key("shared.example.com."), key("own.example.com.")
	old := start(t, testConfig(), r, p, nil)
	old.Observe(shared, "example.com")
	nw := start(t, testConfig(), r, p, ev)
	nw.Observe(shared, "example.com")
	nw.Observe(own, "example.com")
	nw.Discard()
	if Registered(own) {
		t.Error("the discarded Monitor's own target is still registered")
	}
	if !Registered(shared) {
		t.Error("the target the running Monitor holds left the registry")
	}
	if recs, live := reg.size(); recs != 1 || live != 1 {
		t.Errorf("registry: %d records, %d running monitors; want 1 and 1", recs, live)
	}
	if f := ev.events("forgotten", Key{}); len(f) != 1 || f[0].key != own {
		t.Errorf("forgotten events %+v, want one for %s", f, own.Target)
	}
}
