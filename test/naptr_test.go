package test

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/internal/testpeer"
	"github.com/srvhealth/srvhealth/probe"
)

// naptrZoneFile is a SIP domain publishing three transports by NAPTR (RFC 3263 §4.1): TLS first, then
// TCP, then UDP, each an SRV name with the one server sip.ORIGIN; TLS on tlsPort, UDP and TCP on port.
func naptrZoneFile(origin string, port, tlsPort int) string {
	p, tp := strconv.Itoa(port), strconv.Itoa(tlsPort)
	return `$ORIGIN ` + origin + `
@          5   IN SOA ns hostmaster 1 7200 3600 1209600 5
@          5   IN NS  ns
ns         5   IN A   127.0.0.1
@          5   IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp
@          5   IN NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp
@          5   IN NAPTR 30 50 "s" "SIP+D2U" "" _sip._udp
_sips._tcp 5   IN SRV 0 0 ` + tp + ` sip
_sip._tcp  5   IN SRV 0 0 ` + p + ` sip
_sip._udp  5   IN SRV 0 0 ` + p + ` sip
sip        5   IN A   127.0.32.1
`
}

// rfc3263Client locates and reaches the SIP server of domain the way RFC 3263 §4.1 and §4.2 say: NAPTR
// records with the "s" flag and a service it supports, the lowest order first and then the lowest
// preference; the SRV records of that record's replacement in RFC 2782 order (here: the first); the
// target's address; then an OPTIONS request over the transport the NAPTR service names. It returns the
// transport it chose and whether the server answered.
func rfc3263Client(t *testing.T, resolver, domain string) (probe.Transport, bool) {
	t.Helper()
	transports := map[string]probe.Transport{"SIPS+D2T": probe.TLS, "SIP+D2T": probe.TCP, "SIP+D2U": probe.UDP}
	var naptrs []*dns.NAPTR
	for _, rr := range Exchange(t, "udp", resolver, domain, dns.TypeNAPTR).Answer {
		if n, ok := rr.(*dns.NAPTR); ok && strings.EqualFold(n.Flags, "s") && transports[strings.ToUpper(n.Service)] != "" {
			naptrs = append(naptrs, n)
		}
	}
	if len(naptrs) == 0 {
		t.Fatalf("no usable NAPTR record for %s", domain)
	}
	slices.SortStableFunc(naptrs, func(a, b *dns.NAPTR) int {
		if a.Order != b.Order {
			return int(a.Order) - int(b.Order)
		}
		return int(a.Preference) - int(b.Preference)
	})
	chosen := naptrs[0]
	tr := transports[strings.ToUpper(chosen.Service)]
	var srv *dns.SRV
	for _, rr := range Exchange(t, "udp", resolver, chosen.Replacement, dns.TypeSRV).Answer {
		if s, ok := rr.(*dns.SRV); ok {
			srv = s
			break
		}
	}
	if srv == nil {
		return tr, false
	}
	var addr netip.Addr
	for _, rr := range Exchange(t, "udp", resolver, srv.Target, dns.TypeA).Answer {
		if a, ok := rr.(*dns.A); ok {
			addr, _ = netip.AddrFromSlice(a.A.To4())
		}
	}
	p, err := probe.New(probe.Method{Kind: probe.KindSIP, Transport: tr}, probe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	res := p.Probe(ctx, probe.Target{Addr: netip.AddrPortFrom(addr, srv.Port), Domain: strings.TrimSuffix(domain, "."), Host: strings.TrimSuffix(srv.Target, ".")})
	return tr, res.Up
}

// TestNAPTRFailoverWithKamailio: the TLS transport's server is dead (nothing listens on its port). Without
// srvhealth an RFC 3263 client picks TLS, the most preferred transport, and fails; through srvhealth the
// TLS record leaves the NAPTR answer once its target is down, and the client reaches Kamailio over TCP.
func TestNAPTRFailoverWithKamailio(t *testing.T) {
	const (
		interval = 200 * time.Millisecond
		timeout  = 100 * time.Millisecond
		fails    = 2
		slack    = time.Second // query polling and scheduling on a loaded machine
	)
	k := testpeer.Kamailio(t, testpeer.KamailioConfig{Addr: "127.0.32.1"})
	deadTLS := testpeer.FreePort(t, "127.0.32.1", false)
	const origin = "naptr.test."
	db := WriteFile(t, "db", naptrZoneFile(origin, int(k.UDPTCP.Port()), deadTLS))
	plain := CoreDNS(t, origin+`:0 {
		file `+db+`
	}`)
	s := CoreDNS(t, origin+`:0 {
		srvhealth {
			interval `+interval.String()+`
			timeout `+timeout.String()+`
			fails `+strconv.Itoa(fails)+`
		}
		file `+db+`
	}`)

	if tr, ok := rfc3263Client(t, plain.UDP, origin); tr != probe.TLS || ok {
		t.Fatalf("without srvhealth: client chose %s and reached the server: %v; want TLS and a failure", tr, ok)
	}

	start := time.Now()
	// The first NAPTR answer starts the resolution of its SRV names; their targets are then probed.
	Exchange(t, "udp", s.UDP, origin, dns.TypeNAPTR)
	bound := fails*interval + timeout + interval + slack
	var tr probe.Transport
	var ok bool
	if !Eventually(bound, func() bool {
		tr, ok = rfc3263Client(t, s.UDP, origin)
		return ok
	}) {
		t.Fatalf("through srvhealth: client still chose %s (reached: %v) after %v", tr, ok, bound)
	}
	if tr != probe.TCP {
		t.Errorf("through srvhealth: client reached the server over %s, want TCP, the next transport", tr)
	}
	t.Logf("client reached the server over %s %v after the first NAPTR query", tr, time.Since(start).Round(time.Millisecond))
	var services []string
	for _, rr := range Exchange(t, "udp", s.UDP, origin, dns.TypeNAPTR).Answer {
		services = append(services, rr.(*dns.NAPTR).Service)
	}
	if !slices.Equal(services, []string{"SIP+D2T", "SIP+D2U"}) {
		t.Errorf("NAPTR services through srvhealth: %v, want the TLS one dropped", services)
	}
}

// TestNAPTRAllAliveUnchanged: with every transport's server alive, the NAPTR answer through srvhealth is
// byte for byte the one CoreDNS gives without it.
func TestNAPTRAllAliveUnchanged(t *testing.T) {
	k := testpeer.Kamailio(t, testpeer.KamailioConfig{Addr: "127.0.32.1"})
	const origin = "naptr-alive.test."
	db := WriteFile(t, "db", naptrZoneFile(origin, int(k.UDPTCP.Port()), int(k.TLS.Port())))
	plain := CoreDNS(t, origin+`:0 {
		file `+db+`
	}`)
	s := CoreDNS(t, origin+`:0 {
		srvhealth {
			interval 200ms
			timeout 100ms
			fails 2
		}
		file `+db+`
	}`)
	q := new(dns.Msg).SetQuestion(origin, dns.TypeNAPTR)
	want, _ := ExchangeMsg(t, "udp", plain.UDP, q).Pack()
	ExchangeMsg(t, "udp", s.UDP, q) // starts the resolution of the SRV names
	allUp := func() bool {
		for _, p := range []string{"sip-tls", "sip-tcp", "sip-udp"} {
			if v, ok := MetricValue(t, "coredns_srvhealth_target_up", map[string]string{"target": "sip." + origin, "probe": p}); !ok || v != 1 {
				return false
			}
		}
		return true
	}
	if !Eventually(10*time.Second, allUp) {
		t.Fatal("the targets of the three transports were never all probed up")
	}
	got, _ := ExchangeMsg(t, "udp", s.UDP, q).Pack()
	if string(got) != string(want) {
		t.Fatalf("NAPTR answer through srvhealth differs:\n got %x\nwant %x", got, want)
	}
}
