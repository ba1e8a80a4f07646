package health

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/probe"
)

// TestAddresses: an address is down only when every key that probed it found it down; a name that is not
// a target is not known.
func TestAddresses(t *testing.T) {
	requireEmptyRegistry(t)
	r, p := newResolver(), newProber()
	udp := key("dual.example.com.")
	tls := Key{Target: udp.Target, Port: 5061, Method: probe.Method{Kind: probe.KindSIP, Transport: probe.TLS}}
	r.set(udp.Target, Resolution{Addrs: addrs("192.0.2.1", "2001:db8::1")})
	p.setDown(netip.MustParseAddr("2001:db8::1"), true)
	m := start(t, testConfig(), r, p, nil)
	m.Observe(udp, "example.com")
	m.Observe(tls, "example.com")
	waitFor(t, "IPv6 down in both keys", func() bool {
		a, ok := m.Addresses(udp.Target)
		return ok && slices.Equal(a.Down, addrs("2001:db8::1"))
	})
	a, _ := m.Addresses(udp.Target)
	if !slices.Equal(a.Live, addrs("192.0.2.1")) || a.Until.IsZero() {
		t.Errorf("addresses %+v, want 192.0.2.1 live and a time the state could change", a)
	}
	if _, ok := m.Addresses("other.example.com."); ok {
		t.Error("a name that is no target is known")
	}
	if n := testing.AllocsPerRun(100, func() { m.Addresses("other.example.com.") }); n != 0 {
		t.Errorf("looking up a name that is no target allocates %v times", n)
	}
	// A target's addresses are worked out when its snapshots change, not per lookup (AllocsPerRun's
	// integer average hides the one recomputation a round boundary may bring).
	if n := testing.AllocsPerRun(100, func() { m.Addresses(udp.Target) }); n != 0 {
		t.Errorf("looking up a target allocates %v times per lookup", n)
	}

	reports := m.Reports()
	if len(reports) != 2 {
		t.Fatalf("%d reports, want one per key", len(reports))
	}
	for _, rep := range reports {
		if rep.Status.State != Up || rep.Since.IsZero() || len(rep.Addrs) != 2 || rep.Domain != "example.com" {
			t.Errorf("report %+v, want up since its first round, two addresses, domain example.com", rep)
		}
		for _, ar := range rep.Addrs {
			if ar.Last.Duration <= 0 && ar.Last.Reason == "" {
				t.Errorf("address %s: no last probe result", ar.Addr)
			}
		}
	}
}

// TestWaitSettled: the wait ends when the round that resolves the last key publishes, and with the
// context's error for a key that never settles.
func TestWaitSettled(t *testing.T) {
	requireEmptyRegistry(t)
	r, p := newResolver(), newProber()
	a, b := key("a.example.com."), key("b.example.com.")
	r.set(a.Target, Resolution{Addrs: addrs("192.0.2.1")})
	r.set(b.Target, Resolution{Addrs: addrs("192.0.2.2")})
	m := start(t, testConfig(), r, p, nil)
	m.Observe(a, "example.com")
	m.Observe(b, "example.com")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.WaitSettled(ctx, []Key{a, b}); err != nil || !m.Settled(a) || !m.Settled(b) {
		t.Fatalf("WaitSettled = %v; settled %v %v", err, m.Settled(a), m.Settled(b))
	}
	never := key("never.example.com.") // not observed: never settles
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := m.WaitSettled(short, []Key{a, never}); err != context.DeadlineExceeded {
		t.Errorf("WaitSettled of a key that never settles = %v, want the deadline", err)
	}
}

// TestAddressesIgnoreNoCheck: a key probed with "none" says nothing about its addresses, so it does not
// keep alive an address another probe found down.
func TestAddressesIgnoreNoCheck(t *testing.T) {
	requireEmptyRegistry(t)
	r, p := newResolver(), newProber()
	tcp := Key{Target: "nocheck.example.com.", Port: 5060, Method: probe.Method{Kind: probe.KindTCP, Transport: probe.TCP}}
	none := Key{Target: tcp.Target, Port: 5060, Method: probe.Method{Kind: probe.KindNone}}
	r.set(tcp.Target, Resolution{Addrs: addrs("192.0.2.1", "2001:db8::1")})
	p.setDown(netip.MustParseAddr("2001:db8::1"), true)
	// The real prober of "none": every address up, "no check".
	noCheck := proberFunc(func(context.Context, probe.Target) probe.Result { return probe.Result{Up: true, Reason: "no check"} })
	m := New(testConfig(), r, func(meth probe.Method) (probe.Prober, error) {
		if meth.Kind == probe.KindNone {
			return noCheck, nil
		}
		return p, nil
	}, nil)
	t.Cleanup(m.Stop)
	m.Start()
	m.Observe(tcp, "example.com")
	m.Observe(none, "example.com")
	waitFor(t, "IPv6 down", func() bool {
		a, _ := m.Addresses(tcp.Target)
		return slices.Equal(a.Down, addrs("2001:db8::1"))
	})
}
