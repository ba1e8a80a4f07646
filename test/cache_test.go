package test

import (
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestEndToEndBehindCache checks that a custom build's directive order puts srvhealth before cache, so that
// a cached answer is filtered afresh: the first answer is cached with every target (none is resolved yet),
// and later answers from the cache lose the CNAME and address-less targets all the same.
func TestEndToEndBehindCache(t *testing.T) {
	zone := WriteFile(t, "db", fileZone("cached.test"))
	s := CoreDNS(t, `cached.test:0 {
		cache 300
		srvhealth {
			probe _sip._tcp none
			interval 2s
			timeout 50ms
		}
		file `+zone+`
	}`)
	first := Exchange(t, "udp", s.UDP, "_sip._tcp.cached.test.", dns.TypeSRV)
	if len(first.Answer) != 3 {
		t.Fatalf("first answer %v, want all 3 targets while none is resolved", first.Answer)
	}
	var last *dns.Msg
	if !Eventually(5*time.Second, func() bool {
		last = Exchange(t, "udp", s.UDP, "_sip._tcp.cached.test.", dns.TypeSRV)
		return slices.Equal(SRVTargets(last), []string{"sip1.cached.test."})
	}) {
		t.Fatalf("targets %v from behind the cache, want only sip1", SRVTargets(last))
	}
	if last.Answer[0].Header().Ttl > 30 {
		t.Errorf("cached answer TTL %d, want it capped at 30", last.Answer[0].Header().Ttl)
	}
}
