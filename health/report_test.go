package health

import (
	"net/netip"
	"slices"
	"testing"

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
