package health

import (
	"net/netip"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/probe"
)

// TestRecheck checks what the query path's memory relies on: a Ref stays fresh while its key's state is
// the one it was taken with, turns stale when the state changes or the key leaves the table, and a
// Recheck is a sighting as a Check is.
func TestRecheck(t *testing.T) {
	requireEmptyRegistry(t)
	m := New(Config{Interval: time.Second, Timeout: 500 * time.Millisecond}, nil, nil, nil) // never started
	t.Cleanup(m.Stop)
	m.touchEvery = int64(time.Millisecond)
	k := NewKey("sip1.example.com.", 5060, probe.Method{Kind: probe.KindTCP, Transport: probe.TCP}, "example.com")
	adopt := func(state State, checked time.Time) {
		t.Helper()
		s := Shared{Key: k, Domain: "example.com", Prober: "test", Checked: checked, Since: checked, Resolved: true,
			Res:   Resolution{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, TTL: 300},
			Addrs: []SharedAddr{{Addr: netip.MustParseAddr("192.0.2.1"), State: state, Up: state == Up}}}
		if !m.Adopt(s) {
			t.Fatalf("state %v not adopted", state)
		}
	}
	now := time.Now()
	adopt(Up, now)

	st, ref, ok := m.CheckRef(k, "example.com")
	if !ok || !ref.Valid() || st.State != Up {
		t.Fatalf("CheckRef = %v %v %v, want an up target and a Ref", st.State, ref.Valid(), ok)
	}
	if !m.Recheck([]Ref{ref, {}}) {
		t.Fatal("Recheck of an unchanged key (and a zero Ref) is stale")
	}

	e := m.table.get(k)
	before := e.seen.Load()
	time.Sleep(3 * time.Millisecond)
	m.Recheck([]Ref{ref})
	if e.seen.Load() <= before {
		t.Error("Recheck did not count as a sighting")
	}

	adopt(Down, now.Add(time.Second))
	if m.Recheck([]Ref{ref}) {
		t.Error("Recheck still fresh after the state changed")
	}
	st, ref, _ = m.CheckRef(k, "example.com")
	if st.State != Down || !m.Recheck([]Ref{ref}) {
		t.Errorf("a new Ref after the change: state %v, fresh %v; want down and fresh", st.State, m.Recheck([]Ref{ref}))
	}

	m.retire(m.table.shard(k).removeIf(func(x *entry) bool { return x.key == k }))
	if m.Recheck([]Ref{ref}) {
		t.Error("Recheck still fresh after the key left the table")
	}
	if _, ref, ok := m.CheckRef(k, "example.com"); !ok || !ref.Valid() || ref.e == e {
		t.Errorf("CheckRef after removal: ok %v, same entry %v; want the key registered anew", ok, ref.e == e)
	}
}
