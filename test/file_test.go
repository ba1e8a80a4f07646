package test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fileZone is a zone for origin (e.g. "example.com") with a live, a CNAME and an address-less _sip._tcp
// target. Tests use distinct origins: the monitor's state is process-wide (it survives reloads), so a
// target known from one test would be known in the next.
func fileZone(origin string) string {
	return strings.ReplaceAll(fileZoneTemplate, "example.com", origin)
}

const fileZoneTemplate = `$ORIGIN example.com.
$TTL 300
@        IN SOA ns.example.com. hostmaster.example.com. 1 7200 3600 1209600 300
@        IN NS  ns.example.com.
ns       IN A   127.0.0.1
_sip._tcp IN SRV 10 70 5060 sip1.example.com.
_sip._tcp IN SRV 10 30 5060 alias.example.com.
_sip._tcp IN SRV 20 0  5060 ghost.example.com.
_ldap._tcp IN SRV 0 0 389 ns.example.com.
sip1     IN A     127.0.0.1
alias    IN CNAME sip1.example.com.
ghost    IN TXT   "no address here"
`

// TestEndToEndFile runs a real CoreDNS server with the file plugin and checks, over UDP and TCP, that the
// CNAME and address-less targets leave the answer once the monitor has resolved them, that TTLs are
// capped, and that other queries are not touched.
func TestEndToEndFile(t *testing.T) {
	zone := WriteFile(t, "db", fileZone("example.com"))
	s := CoreDNS(t, `example.com:0 {
		srvhealth {
			probe _sip._tcp none
			interval 100ms
			timeout 50ms
			max_ttl 20s
		}
		file `+zone+`
	}`)
	for _, net := range []string{"udp", "tcp"} {
		addr := s.UDP
		if net == "tcp" {
			addr = s.TCP
		}
		t.Run(net, func(t *testing.T) {
			var last *dns.Msg
			ok := Eventually(5*time.Second, func() bool {
				last = Exchange(t, net, addr, "_sip._tcp.example.com.", dns.TypeSRV)
				return slices.Equal(SRVTargets(last), []string{"sip1.example.com."})
			})
			if !ok {
				t.Fatalf("targets %v, want only sip1 once alias (CNAME) and ghost (no address) are resolved", SRVTargets(last))
			}
			for _, rr := range last.Answer {
				if rr.Header().Ttl > 20 {
					t.Errorf("TTL %d above max_ttl 20s: %s", rr.Header().Ttl, rr)
				}
			}
			for _, rr := range last.Extra {
				if n := rr.Header().Name; n == "alias.example.com." || n == "ghost.example.com." {
					t.Errorf("additional section keeps a record of a dropped target: %s", rr)
				}
			}
			ldap := Exchange(t, net, addr, "_ldap._tcp.example.com.", dns.TypeSRV)
			if len(ldap.Answer) != 1 || ldap.Answer[0].Header().Ttl != 300 {
				t.Errorf("_ldap._tcp answer changed: %v", ldap.Answer)
			}
			a := Exchange(t, net, addr, "alias.example.com.", dns.TypeA)
			if len(a.Answer) != 2 || a.Answer[0].Header().Ttl != 300 {
				t.Errorf("A query answer changed: %v", a.Answer)
			}
		})
	}
}
