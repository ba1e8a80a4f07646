package test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestUpstreamOdditiesPassThrough sends the answers real zones have and clients choke on: an RRset too
// big for plain UDP, hundreds of records over TCP, a mixed-case question and IDN targets.
func TestUpstreamOdditiesPassThrough(t *testing.T) {
	const zone = "odd-hard.test."
	live := TCPPeer(t, false)
	deadPort := ClosedPort(t)
	var z strings.Builder
	z.WriteString(`$ORIGIN odd-hard.test.
$TTL 300
@    IN SOA ns hostmaster 1 7200 3600 1209600 300
@    IN NS  ns
ns   IN A   127.0.0.1
`)
	const big, huge = 60, 300
	for i := range big {
		fmt.Fprintf(&z, "_sip._udp IN SRV %d 10 5060 udp%d\nudp%d IN A 127.0.0.1\n", i%3, i, i)
	}
	for i := range huge {
		fmt.Fprintf(&z, "_sip._tcp IN SRV %d %d 5060 tcp%d\ntcp%d IN A 127.0.0.%d\n", (i*7)%5, i%4, i, i, 1+i%200)
	}
	fmt.Fprintf(&z, `_xmpp-client._tcp IN SRV 10 50 %[1]s Live
_xmpp-client._tcp IN SRV 10 50 %[2]s dead
_xmpp-server._tcp IN SRV 10 50 %[1]s xn--bcher-kva
_xmpp-server._tcp IN SRV 10 50 %[2]s xn--mnchen-3ya
live IN A 127.0.0.1
dead IN A 127.0.0.1
xn--bcher-kva IN A 127.0.0.1
xn--mnchen-3ya IN A 127.0.0.1
`, live, deadPort)
	s := CoreDNS(t, `odd-hard.test:0 {
		srvhealth {
			probe _sip._udp none
			probe _sip._tcp none
			probe _xmpp-client._tcp tcp
			probe _xmpp-server._tcp tcp
			interval 100ms
			timeout 50ms
			fails 1
		}
		file `+WriteFile(t, "db", z.String())+`
	}`)

	t.Run("udp without EDNS", func(t *testing.T) {
		check := func(when string) {
			q := new(dns.Msg)
			q.SetQuestion("_sip._udp."+zone, dns.TypeSRV)
			// dns.Client reads at most 512 bytes for a question without EDNS: a reply that does not fit
			// fails to parse here.
			r := ExchangeMsg(t, "udp", s.UDP, q)
			if !r.Response || r.Rcode != dns.RcodeSuccess || len(r.Question) != 1 || r.Question[0] != q.Question[0] {
				t.Fatalf("%s: not a valid reply to %v: %v", when, q.Question[0], r)
			}
			if r.IsEdns0() != nil {
				t.Errorf("%s: reply has EDNS, the question had none", when)
			}
			if n := len(SRVTargets(r)); !r.Truncated && n != big {
				t.Errorf("%s: %d SRV records without TC, want all %d or TC set", when, n, big)
			}
			r.Compress = true // as sent: a name compressed reply
			if b, err := r.Pack(); err != nil || len(b) > dns.MinMsgSize {
				t.Errorf("%s: reply of %d bytes (err %v), want at most %d", when, len(b), err, dns.MinMsgSize)
			}
			full := ExchangeMsg(t, "tcp", s.TCP, q)
			if n := len(SRVTargets(full)); full.Truncated || n != big {
				t.Errorf("%s: TCP retry got %d SRV records (TC %v), want all %d", when, n, full.Truncated, big)
			}
			t.Logf("%s: UDP reply TC=%v with %d records; TCP %d", when, r.Truncated, len(SRVTargets(r)), len(SRVTargets(full)))
		}
		check("unresolved")
		time.Sleep(500 * time.Millisecond) // every target resolved and (probe none) up
		check("resolved")
	})

	t.Run("hundreds over tcp", func(t *testing.T) {
		for _, when := range []string{"unresolved", "resolved"} {
			if when == "resolved" {
				time.Sleep(500 * time.Millisecond)
			}
			q := new(dns.Msg)
			q.SetQuestion("_sip._tcp."+zone, dns.TypeSRV)
			r := ExchangeMsg(t, "tcp", s.TCP, q)
			var prios []uint16
			seen := map[string]bool{}
			for _, rr := range r.Answer {
				if srv, ok := rr.(*dns.SRV); ok {
					prios = append(prios, srv.Priority)
					seen[srv.Target] = true
				}
			}
			if len(prios) != huge || len(seen) != huge {
				t.Errorf("%s: %d SRV records (%d distinct targets), want all %d", when, len(prios), len(seen), huge)
			}
			if !slices.IsSorted(prios) {
				t.Errorf("%s: priorities not ascending: %v", when, prios)
			}
			extra := 0
			for _, rr := range r.Extra {
				if a, ok := rr.(*dns.A); ok {
					if !seen[a.Hdr.Name] {
						t.Errorf("%s: additional address of a target not in the answer: %s", when, a)
					}
					extra++
				}
			}
			if extra != huge {
				t.Errorf("%s: %d additional addresses, want one for each of %d targets", when, extra, huge)
			}
		}
	})

	t.Run("mixed case question", func(t *testing.T) {
		qname := "_XMPP-Client._TCP.Odd-Hard.TEST."
		var r *dns.Msg
		if !Eventually(5*time.Second, func() bool {
			r = Exchange(t, "udp", s.UDP, qname, dns.TypeSRV)
			return len(SRVTargets(r)) == 1
		}) {
			t.Fatalf("mixed-case query: targets %v, want the dead one filtered out", SRVTargets(r))
		}
		if got := strings.ToLower(SRVTargets(r)[0]); got != "live."+zone {
			t.Errorf("mixed-case query kept %s, want live.%s", got, zone)
		}
		if r.Question[0].Name != qname {
			t.Errorf("question name %q, want the client's %q", r.Question[0].Name, qname)
		}
	})

	t.Run("idn targets", func(t *testing.T) {
		var r *dns.Msg
		if !Eventually(5*time.Second, func() bool {
			r = Exchange(t, "udp", s.UDP, "_xmpp-server._tcp."+zone, dns.TypeSRV)
			_, probed := MetricSeries(t, "coredns_srvhealth_target_up", "target")["xn--bcher-kva."+zone]
			return len(SRVTargets(r)) == 1 && probed
		}) {
			t.Fatalf("IDN targets %v, want the dead one filtered out once both are probed", SRVTargets(r))
		}
		if got := SRVTargets(r); got[0] != "xn--bcher-kva."+zone {
			t.Errorf("kept %v, want xn--bcher-kva.%s", got, zone)
		}
		up := MetricSeries(t, "coredns_srvhealth_target_up", "target")
		if up["xn--bcher-kva."+zone] != 1 || up["xn--mnchen-3ya."+zone] != 0 {
			t.Errorf("target_up of the IDN targets: xn--bcher-kva %v, xn--mnchen-3ya %v", up["xn--bcher-kva."+zone], up["xn--mnchen-3ya."+zone])
		}
	})
}
