package test

import (
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/internal/testpeer"
)

// TestSharedXMPPTarget serves two domains whose _xmpp-client and _xmpps-client records point at the same
// real Prosody, which hosts only one of them: the hosting company's usual layout, with a deprovisioned
// customer whose records still point at the shared server. The probe for gone.test gets host-unknown
// (or, over direct TLS, a certificate for another name) and must take the server out of gone.test's
// answers only; voip.test, asked for second, keeps it. Before the domain was part of a target's identity,
// the first domain seen was used for every domain's probe, so voip.test lost its server too.
func TestSharedXMPPTarget(t *testing.T) {
	p := testpeer.Prosody(t, testpeer.ProsodyConfig{Addr: "127.0.33.1", Domain: "voip.test"})
	c2s, tls := strconv.Itoa(int(p.C2S.Port())), strconv.Itoa(int(p.DirectTLS.Port()))
	zone := WriteFile(t, "db.test", `$ORIGIN test.
$TTL 300
@  IN SOA ns.test. hostmaster.test. 1 7200 3600 1209600 300
@  IN NS  ns.test.
ns IN A   127.0.0.1
_xmpp-client._tcp.gone.test.  IN SRV 0 0 `+c2s+` xmpp.voip.test.
_xmpp-client._tcp.voip.test.  IN SRV 0 0 `+c2s+` xmpp.voip.test.
_xmpps-client._tcp.gone.test. IN SRV 0 0 `+tls+` xmpp.voip.test.
_xmpps-client._tcp.voip.test. IN SRV 0 0 `+tls+` xmpp.voip.test.
xmpp.voip.test. IN A 127.0.33.1
`)
	s := CoreDNS(t, `test:0 {
		srvhealth {
			interval 300ms
			timeout 200ms
			fails 1
			all_down nodata
			tls_verify `+p.Cert.CertFile+`
		}
		file `+zone+`
	}`)
	targets := func(name string) int { return len(SRVTargets(Exchange(t, "udp", s.UDP, name, dns.TypeSRV))) }

	for _, svc := range []string{"_xmpp-client._tcp.", "_xmpps-client._tcp."} {
		// gone.test first, so that its domain is the one the old code kept for the shared target.
		if !Eventually(10*time.Second, func() bool { return targets(svc+"gone.test.") == 0 }) {
			t.Errorf("%sgone.test.: Prosody does not host gone.test, yet it stays in the answer", svc)
		}
		// Several rounds of voip.test's own probe: it must stay.
		deadline := time.Now().Add(1500 * time.Millisecond)
		for time.Now().Before(deadline) {
			if n := targets(svc + "voip.test."); n != 1 {
				t.Fatalf("%svoip.test.: %d targets, want Prosody, which hosts voip.test", svc, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := targets(svc + "gone.test."); n != 0 {
			t.Errorf("%sgone.test.: %d targets after voip.test was probed, want none", svc, n)
		}
	}
}
