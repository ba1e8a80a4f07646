package health

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeFleet is a Sharer whose ownership the test sets; it records what the Monitor shares and asks for.
type fakeFleet struct {
	name      string
	owner     atomic.Bool
	mu        sync.Mutex
	shared    []Shared
	wants     []Key
	fallbacks atomic.Int64
}

func (f *fakeFleet) Name() string  { return f.name }
func (f *fakeFleet) Owns(Key) bool { return f.owner.Load() }
func (f *fakeFleet) Fallback(Key)  { f.fallbacks.Add(1) }
func (f *fakeFleet) Probers() int  { return 2 }
func (f *fakeFleet) Want(k Key, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wants = append(f.wants, k)
}
func (f *fakeFleet) Share(s Shared) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shared = append(f.shared, s)
}

func (f *fakeFleet) counts() (shared, wants int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.shared), len(f.wants)
}

func sharedState(k Key, prober string, checked time.Time, st State, fails int) Shared {
	a := netip.MustParseAddr("192.0.2.1")
	return Shared{Key: k, Prober: prober, Checked: checked, Since: checked, Resolved: true,
		Res:   Resolution{Addrs: []netip.Addr{a}, TTL: 60},
		Addrs: []SharedAddr{{Addr: a, State: st, Fails: fails, Up: st == Up}}}
}

// TestAdoptOrderIndependent applies the same states in every order to fresh Monitors: each ends with the
// newest, by (Checked, Prober), whatever the order.
func TestAdoptOrderIndependent(t *testing.T) {
	requireEmptyRegistry(t)
	k := key("sip.example.com.")
	t0 := time.Now().Truncate(time.Second)
	states := []Shared{
		sharedState(k, "a", t0, Up, 0),
		sharedState(k, "b", t0.Add(time.Second), Up, 1),
		sharedState(k, "a", t0.Add(2*time.Second), Up, 2),
		sharedState(k, "c", t0.Add(2*time.Second), Down, 3), // a tie on Checked: the greater prober wins
		sharedState(k, "b", t0.Add(-time.Second), Down, 3),
	}
	want := states[3]
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 20 {
		order := rng.Perm(len(states))
		m := New(testConfig(), newResolver(), factory(newProber()), nil) // never started: no round runs
		for _, j := range order {
			m.Adopt(states[j])
		}
		r, ok := m.Report(k)
		if !ok {
			t.Fatalf("order %v: key not adopted", order)
		}
		if r.Prober != want.Prober || !r.Status.Checked.Equal(want.Checked) || r.Status.State != Down {
			t.Errorf("run %d, order %v: got prober %s checked %v state %v, want %s %v down", i, order, r.Prober, r.Status.Checked, r.Status.State, want.Prober, want.Checked)
		}
		m.Stop()
	}
	requireEmptyRegistry(t)
}

// TestSharedNewer checks that Newer is a strict order: exactly one of two different states is newer.
func TestSharedNewer(t *testing.T) {
	k := key("x.example.com.")
	t0 := time.Now()
	ss := []Shared{sharedState(k, "a", t0, Up, 0), sharedState(k, "b", t0, Up, 0), sharedState(k, "a", t0.Add(1), Up, 0)}
	for i := range ss {
		for j := range ss {
			a, b := ss[i].Newer(&ss[j]), ss[j].Newer(&ss[i])
			if i == j && (a || b) || i != j && a == b {
				t.Errorf("%d vs %d: newer %v and %v", i, j, a, b)
			}
		}
	}
}

// TestAdoptReportsNoChangeOfItsOwn: a state adopted from the fleet is not this Monitor's change (Adopted,
// naming the prober, not StateChanged), and a key only the fleet speaks of is admitted as seen once
// (evictable, not shared on).
func TestAdoptReportsNoChangeOfItsOwn(t *testing.T) {
	requireEmptyRegistry(t)
	rec := &recorder{}
	m := New(testConfig(), newResolver(), factory(newProber()), rec)
	defer m.Stop()
	k := key("remote.example.com.")
	if !m.Adopt(sharedState(k, "peer", time.Now(), Down, 3)) {
		t.Fatal("not adopted")
	}
	if st, ok := m.lookup(k); !ok || st.State != Down || len(st.Down) != 1 {
		t.Fatalf("status %+v %v, want down with its address down", st, ok)
	}
	if evs := rec.all(k); len(evs) != 1 || evs[0].kind != "adopted" || evs[0].to != Down || evs[0].reason != "peer" {
		t.Errorf("events %+v, want one adopted change to down from peer", evs)
	}
	if e := m.table.get(k); e.kept() {
		t.Error("a key only the fleet spoke of is kept")
	}
	if got := m.Shared(); len(got) != 0 {
		t.Errorf("Shared %v, want nothing of a key seen once", got)
	}
	// An older state does not replace a newer one.
	if m.Adopt(sharedState(k, "peer", time.Now().Add(-time.Minute), Up, 0)) {
		t.Error("an older state was adopted")
	}
}

// TestAdoptAccept: a key the block would not monitor is not admitted.
func TestAdoptAccept(t *testing.T) {
	requireEmptyRegistry(t)
	cfg := testConfig()
	cfg.Accept = func(k Key) bool { return k.Target != "other.example.net." }
	m := New(cfg, newResolver(), factory(newProber()), nil)
	defer m.Stop()
	if m.Adopt(sharedState(key("other.example.net."), "peer", time.Now(), Up, 0)) || m.Len() != 0 {
		t.Fatal("a key outside Accept was admitted")
	}
	m.Want(key("other.example.net."), "")
	if m.Len() != 0 {
		t.Fatal("a want outside Accept was admitted")
	}
	m.Want(key("in.example.com."), "")
	if m.Len() != 1 {
		t.Fatal("a want was not admitted")
	}
}

// TestAdoptBoundedByAdmission: the fleet's states take only free room in the table, as keys seen once: a
// member flooded with states holds no more than MaxTargets, and they displace nothing its clients asked for,
// kept or seen once.
func TestAdoptBoundedByAdmission(t *testing.T) {
	requireEmptyRegistry(t)
	cfg := testConfig()
	cfg.MaxTargets = 10
	m := New(cfg, newResolver(), factory(newProber()), nil)
	defer m.Stop()
	keep := key("kept.example.com.")
	m.Observe(keep, "example.com")
	for i := range 1000 {
		m.Adopt(sharedState(key(targetName(i)), "peer", time.Now(), Up, 0))
	}
	if n := m.Len(); n > cfg.MaxTargets {
		t.Fatalf("%d targets, want at most %d", n, cfg.MaxTargets)
	}
	if _, ok := m.lookup(keep); !ok {
		t.Fatal("the kept target was displaced by the fleet's states")
	}
	for i := range 1000 {
		m.Adopt(sharedState(key(targetName(i)), "peer", time.Now(), Up, 0)) // each a second time
	}
	for i := range 9 {
		if _, ok := m.lookup(key(targetName(i))); !ok {
			t.Fatalf("state %d, in the table first, was evicted by the fleet's later states", i)
		}
	}
	// A key a client asks for still gets in at its second sighting, evicting a state the fleet sent.
	local := key("asked.example.com.")
	m.Check(local, "example.com")
	m.Check(local, "example.com")
	if _, ok := m.lookup(local); !ok {
		t.Fatal("a key asked for twice was refused in a table full of the fleet's states")
	}
}

// TestFleetRounds: an owner probes and shares its kept targets; a member that is not an owner and hears of
// a target in time does not probe it but asks its owners for it; one that hears nothing probes it itself.
func TestFleetRounds(t *testing.T) {
	requireEmptyRegistry(t)
	a := netip.MustParseAddr("192.0.2.1")
	r := newResolver()
	r.set("sip.example.com.", Resolution{Addrs: []netip.Addr{a}, TTL: 60})
	p := newProber()
	f := &fakeFleet{name: "me"}
	f.owner.Store(true)
	cfg := testConfig()
	cfg.Fleet = f
	m := start(t, cfg, r, p, nil)
	k := key("sip.example.com.")
	m.Observe(k, "example.com") // named: kept
	waitFor(t, "a shared round", func() bool { n, _ := f.counts(); return n >= 2 })
	if got := m.table.get(k).snap.Load().prober; got != "me" {
		t.Fatalf("prober %q, want me", got)
	}

	// Not an owner any more, and the owners speak of it: no probe, but wants.
	f.owner.Store(false)
	stop := repeat(cfg.Interval/2, func() { m.Adopt(sharedState(k, "owner", time.Now(), Up, 0)) })
	// A round that began before the change may still probe, late on a loaded machine: look at a few
	// windows of 10 intervals, and want one with no probe at all.
	_, w0 := f.counts()
	quiet, before := false, p.callsTo(a)
	for range 5 {
		time.Sleep(10 * cfg.Interval)
		after := p.callsTo(a)
		if after == before {
			quiet = true
			break
		}
		before = after
	}
	if !quiet {
		t.Error("a member that hears its owners goes on probing")
	}
	if _, w := f.counts(); w <= w0 {
		t.Error("no want sent for a kept target this member does not own")
	}
	stop()

	// The owners fall silent: past StaleAfter the member probes on its own.
	waitFor(t, "a fallback round", func() bool { return f.fallbacks.Load() > 0 && p.callsTo(a) > before })
}

// TestFleetSharesOnlyKept: names seen once (a flood sent to this member) are neither shared, nor asked of
// their owners, nor handed to a member that joins: the fleet's other tables fill no faster than they would
// alone. A target asked for again is the fleet's.
func TestFleetSharesOnlyKept(t *testing.T) {
	requireEmptyRegistry(t)
	r := newResolver()
	for i := range 200 {
		r.set(targetName(i), Resolution{Addrs: addrs("192.0.2.1"), TTL: 60})
	}
	r.set("kept.example.com.", Resolution{Addrs: addrs("192.0.2.2"), TTL: 60})
	for _, owner := range []bool{true, false} {
		f := &fakeFleet{name: "me"}
		f.owner.Store(owner)
		cfg := testConfig()
		cfg.Fleet = f
		m := start(t, cfg, r, newProber(), nil)
		for i := range 200 {
			m.Check(key(targetName(i)), "example.com")
		}
		kept := key("kept.example.com.")
		m.Check(kept, "example.com")
		time.Sleep(seenGranularity + 10*time.Millisecond)
		m.Check(kept, "example.com") // a second window: kept
		waitFor(t, "the kept target shared or wanted", func() bool {
			shared, wants := f.counts()
			return shared > 0 || wants > 0
		})
		time.Sleep(10 * cfg.Interval)
		f.mu.Lock()
		for _, s := range f.shared {
			if s.Key != kept {
				t.Errorf("owner %v: shared %s, seen once", owner, s.Key.Target)
			}
		}
		for _, k := range f.wants {
			if k != kept {
				t.Errorf("owner %v: asked the owners for %s, seen once", owner, k.Target)
			}
		}
		f.mu.Unlock()
		for _, s := range m.Shared() {
			if s.Key != kept {
				t.Errorf("owner %v: push/pull hands on %s, seen once", owner, s.Key.Target)
			}
		}
		m.Stop()
	}
}
