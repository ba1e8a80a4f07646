package test

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/internal/testpeer"
	"github.com/srvhealth/srvhealth/probe"
)

// ipv6FirstClient is a SIP client that prefers IPv6, as many do: it asks AAAA, then A, and sends its
// OPTIONS over TCP to the first address it got, with no fallback. It returns the address it tried and
// whether the server answered.
func ipv6FirstClient(t *testing.T, resolver, target string, port uint16) (netip.Addr, bool) {
	t.Helper()
	var addr netip.Addr
	for _, qt := range []uint16{dns.TypeAAAA, dns.TypeA} {
		for _, rr := range Exchange(t, "udp", resolver, target, qt).Answer {
			switch rr := rr.(type) {
			case *dns.AAAA:
				addr, _ = netip.AddrFromSlice(rr.AAAA)
			case *dns.A:
				addr, _ = netip.AddrFromSlice(rr.A.To4())
			}
			if addr.IsValid() {
				break
			}
		}
		if addr.IsValid() {
			break
		}
	}
	if !addr.IsValid() {
		t.Fatalf("no address for %s", target)
	}
	p, err := probe.New(probe.Method{Kind: probe.KindSIP, Transport: probe.TCP}, probe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	res := p.Probe(ctx, probe.Target{Addr: netip.AddrPortFrom(addr, port), Domain: "v4only.test", Host: strings.TrimSuffix(target, ".")})
	return addr, res.Up
}

// TestFilterAddressesWithKamailio: Kamailio listens on IPv4 only while its target publishes an A and an
// AAAA record. Without srvhealth a client that prefers IPv6 tries the dead ::1 and fails; through srvhealth
// with filter_addresses the AAAA answer is NODATA once the IPv6 address is found down, and the client
// reaches Kamailio over IPv4.
func TestFilterAddressesWithKamailio(t *testing.T) {
	k := testpeer.Kamailio(t, testpeer.KamailioConfig{Addr: "127.0.33.1"})
	const origin = "v4only.test."
	port := k.UDPTCP.Port()
	db := WriteFile(t, "db", `$ORIGIN `+origin+`
@         300 IN SOA ns hostmaster 1 7200 3600 1209600 60
@         300 IN NS  ns
ns        300 IN A   127.0.0.1
_sip._tcp 300 IN SRV 0 0 `+strconv.Itoa(int(port))+` sip
sip       300 IN A    127.0.33.1
sip       300 IN AAAA ::1
`)
	plain := CoreDNS(t, origin+`:0 {
		file `+db+`
	}`)
	s := CoreDNS(t, origin+`:0 {
		srvhealth {
			filter_addresses
			interval 200ms
			timeout 100ms
			fails 2
		}
		file `+db+`
	}`)
	target := "sip." + origin

	if addr, ok := ipv6FirstClient(t, plain.UDP, target, port); ok || !addr.Is6() {
		t.Fatalf("without srvhealth: the client tried %s and reached the server: %v; want ::1 and a failure", addr, ok)
	}

	// The SRV answer makes the target known; its IPv6 address is then found down.
	Exchange(t, "udp", s.UDP, "_sip._tcp."+origin, dns.TypeSRV)
	var m *dns.Msg
	if !Eventually(10*time.Second, func() bool {
		m = Exchange(t, "udp", s.UDP, target, dns.TypeAAAA)
		return len(m.Answer) == 0
	}) {
		t.Fatalf("AAAA %s through srvhealth: %v, want NODATA once ::1 is found down", target, m.Answer)
	}
	if m.Rcode != dns.RcodeSuccess || len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA {
		t.Errorf("AAAA answer: rcode %s authority %v, want NOERROR with the zone's SOA", dns.RcodeToString[m.Rcode], m.Ns)
	}
	if a := Exchange(t, "udp", s.UDP, target, dns.TypeA); len(a.Answer) != 1 {
		t.Errorf("A answer %v, want the live IPv4 address", a.Answer)
	}
	if addr, ok := ipv6FirstClient(t, s.UDP, target, port); !ok || !addr.Is4() {
		t.Errorf("through srvhealth: the client tried %s and reached the server: %v; want IPv4 and success", addr, ok)
	}
	// A name of the zone that is no target passes untouched.
	if ns := Exchange(t, "udp", s.UDP, "ns."+origin, dns.TypeA); len(ns.Answer) != 1 || ns.Answer[0].Header().Ttl != 300 {
		t.Errorf("A of a name that is no target: %v, want it unchanged", ns.Answer)
	}
}
