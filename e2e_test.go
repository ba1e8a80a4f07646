package srvhealth_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/internal/corednstest"
)

// writeZone writes a zone file into a temporary directory and returns its path.
func writeZone(t *testing.T, zone string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(p, []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func exchange(t *testing.T, net, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: net, Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s: %v", net, name, err)
	}
	return r
}

func srvTargets(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, s.Target)
		}
	}
	slices.Sort(out)
	return out
}

// eventually polls f every 20 ms until it returns true or the deadline passes.
func eventually(t *testing.T, within time.Duration, f func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if f() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f()
}

// e2eZone is a zone for origin (e.g. "example.com"). Tests use distinct origins: the monitor's state is
// process-wide (it survives reloads), so a target known from one test would be known in the next.
func e2eZone(origin string) string {
	return strings.ReplaceAll(e2eZoneTemplate, "example.com", origin)
}

const e2eZoneTemplate = `$ORIGIN example.com.
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
	zone := writeZone(t, e2eZone("example.com"))
	s := corednstest.Start(t, `example.com:0 {
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
			ok := eventually(t, 5*time.Second, func() bool {
				last = exchange(t, net, addr, "_sip._tcp.example.com.", dns.TypeSRV)
				return slices.Equal(srvTargets(last), []string{"sip1.example.com."})
			})
			if !ok {
				t.Fatalf("targets %v, want only sip1 once alias (CNAME) and ghost (no address) are resolved", srvTargets(last))
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
			ldap := exchange(t, net, addr, "_ldap._tcp.example.com.", dns.TypeSRV)
			if len(ldap.Answer) != 1 || ldap.Answer[0].Header().Ttl != 300 {
				t.Errorf("_ldap._tcp answer changed: %v", ldap.Answer)
			}
			a := exchange(t, net, addr, "alias.example.com.", dns.TypeA)
			if len(a.Answer) != 2 || a.Answer[0].Header().Ttl != 300 {
				t.Errorf("A query answer changed: %v", a.Answer)
			}
		})
	}
}

// TestEndToEndBehindCache checks that a custom build's directive order puts srvhealth before cache, so that
// a cached answer is filtered afresh: the first answer is cached with every target (none is resolved yet),
// and later answers from the cache lose the CNAME and address-less targets all the same.
func TestEndToEndBehindCache(t *testing.T) {
	zone := writeZone(t, e2eZone("cached.test"))
	s := corednstest.Start(t, `cached.test:0 {
		cache 300
		srvhealth {
			probe _sip._tcp none
			interval 2s
			timeout 50ms
		}
		file `+zone+`
	}`)
	first := exchange(t, "udp", s.UDP, "_sip._tcp.cached.test.", dns.TypeSRV)
	if len(first.Answer) != 3 {
		t.Fatalf("first answer %v, want all 3 targets while none is resolved", first.Answer)
	}
	var last *dns.Msg
	if !eventually(t, 5*time.Second, func() bool {
		last = exchange(t, "udp", s.UDP, "_sip._tcp.cached.test.", dns.TypeSRV)
		return slices.Equal(srvTargets(last), []string{"sip1.cached.test."})
	}) {
		t.Fatalf("targets %v from behind the cache, want only sip1", srvTargets(last))
	}
	if last.Answer[0].Header().Ttl > 30 {
		t.Errorf("cached answer TTL %d, want it capped at 30", last.Answer[0].Header().Ttl)
	}
}
