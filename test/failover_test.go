package test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/internal/testpeer"
)

// TestFailoverWithKamailio runs a real CoreDNS whose _sip._udp targets are real Kamailio servers on
// loopback, probed with SIP OPTIONS over UDP. A server killed mid-test leaves the answers within
// interval × fails + timeout plus one interval, comes back within interval × rises plus one interval after
// it restarts, and with the whole priority-10 tier dead only the priority-20 standby is served.
func TestFailoverWithKamailio(t *testing.T) {
	const (
		interval = 500 * time.Millisecond
		timeout  = 300 * time.Millisecond
		fails    = 2
		rises    = 2
		// slack covers what the bounds do not: the 20 ms query poll, the scheduler's wake-up and, under the
		// race detector on two loaded cores, the probe goroutines' own latency.
		slack = 400 * time.Millisecond
	)
	p1 := testpeer.Kamailio(t, testpeer.KamailioConfig{Addr: "127.0.31.1"})
	p2 := testpeer.Kamailio(t, testpeer.KamailioConfig{Addr: "127.0.31.2"})
	standby := testpeer.Kamailio(t, testpeer.KamailioConfig{Addr: "127.0.31.3"})
	deadPort := testpeer.FreePort(t, "127.0.31.4", true)

	port := func(p *testpeer.KamailioPeer) string { return strconv.Itoa(int(p.UDPTCP.Port())) }
	zone := WriteFile(t, "db", `$ORIGIN voip.test.
$TTL 300
@         IN SOA ns.voip.test. hostmaster.voip.test. 1 7200 3600 1209600 300
@         IN NS  ns.voip.test.
ns        IN A   127.0.0.1
_sip._udp IN SRV 10 70 `+port(p1)+` sip1.voip.test.
_sip._udp IN SRV 10 30 `+port(p2)+` sip2.voip.test.
_sip._udp IN SRV 10 10 `+strconv.Itoa(deadPort)+` sip3.voip.test.
_sip._udp IN SRV 20 0  `+port(standby)+` standby.voip.test.
sip1      IN A   127.0.31.1
sip2      IN A   127.0.31.2
sip3      IN A   127.0.31.4
standby   IN A   127.0.31.3
`)
	s := CoreDNS(t, `voip.test:0 {
		srvhealth {
			interval `+interval.String()+`
			timeout `+timeout.String()+`
			fails `+strconv.Itoa(fails)+`
			rises `+strconv.Itoa(rises)+`
		}
		file `+zone+`
	}`)
	waitFor := func(what string, within time.Duration, want []string) time.Duration {
		t.Helper()
		_, took := WaitTargets(t, what, s.UDP, "_sip._udp.voip.test.", want, within)
		return took
	}

	all := []string{"sip1.voip.test.", "sip2.voip.test.", "standby.voip.test."}
	// A new target's first probe comes within one interval; the dead one needs `fails` failures.
	waitFor("start", interval*(fails+1)+timeout+slack, all)

	p1.Stop()
	took := waitFor("sip1 killed", interval*fails+timeout+interval+slack, []string{"sip2.voip.test.", "standby.voip.test."})
	t.Logf("killed target left the answers after %v (bound %v + slack)", took, interval*fails+timeout+interval)

	p1.Start()
	took = waitFor("sip1 restarted", interval*rises+interval+slack, all)
	t.Logf("restarted target came back after %v (bound %v + slack)", took, interval*rises+interval)

	// The worst target is the hung one: Kamailio frozen with SIGSTOP takes the datagrams and never
	// answers, so every probe runs into its timeout.
	p2.Freeze()
	took = waitFor("sip2 hung", interval*fails+timeout+interval+slack, []string{"sip1.voip.test.", "standby.voip.test."})
	t.Logf("hung target left the answers after %v (bound %v + slack)", took, interval*fails+timeout+interval)
	p2.Thaw()
	waitFor("sip2 thawed", interval*rises+interval+slack, all)

	p1.Stop()
	p2.Stop()
	waitFor("priority-10 tier dead", interval*fails+timeout+interval+slack, []string{"standby.voip.test."})
	m := Exchange(t, "tcp", s.TCP, "_sip._udp.voip.test.", dns.TypeSRV)
	for _, rr := range m.Extra {
		if n := rr.Header().Name; n != "standby.voip.test." {
			t.Errorf("additional section keeps %s of a dead target", rr)
		}
	}
}

// TestXMPPWithProsody serves XMPP SRV records whose targets are a real Prosody (c2s, s2s and direct TLS)
// and ports where it is not, and checks that only the targets that speak the service's stream stay: a
// closed port and an _xmpp-client record pointing at the s2s port (Prosody answers it in the jabber:server
// namespace) both go.
func TestXMPPWithProsody(t *testing.T) {
	p := testpeer.Prosody(t, testpeer.ProsodyConfig{Addr: "127.0.32.1", Domain: "chat.test"})
	port := func(ap interface{ Port() uint16 }) string { return strconv.Itoa(int(ap.Port())) }
	dead := strconv.Itoa(testpeer.FreePort(t, "127.0.32.1", false))
	zone := WriteFile(t, "db", `$ORIGIN chat.test.
$TTL 300
@         IN SOA ns.chat.test. hostmaster.chat.test. 1 7200 3600 1209600 300
@         IN NS  ns.chat.test.
ns        IN A   127.0.0.1
_xmpp-client._tcp  IN SRV 5 50 `+port(p.C2S)+` xmpp.chat.test.
_xmpp-client._tcp  IN SRV 5 50 `+dead+` xmpp.chat.test.
_xmpp-client._tcp  IN SRV 5 50 `+port(p.S2S)+` xmpp.chat.test.
_xmpp-server._tcp  IN SRV 5 0 `+port(p.S2S)+` xmpp.chat.test.
_xmpp-server._tcp  IN SRV 5 0 `+dead+` xmpp.chat.test.
_xmpps-client._tcp IN SRV 5 0 `+port(p.DirectTLS)+` xmpp.chat.test.
_xmpps-client._tcp IN SRV 5 0 `+dead+` xmpp.chat.test.
xmpp      IN A   127.0.32.1
`)
	s := CoreDNS(t, `chat.test:0 {
		srvhealth {
			interval 300ms
			timeout 200ms
			fails 1
		}
		file `+zone+`
	}`)
	ports := func(name string) []string {
		var out []string
		for _, rr := range Exchange(t, "udp", s.UDP, name, dns.TypeSRV).Answer {
			out = append(out, strconv.Itoa(int(rr.(*dns.SRV).Port)))
		}
		slices.Sort(out)
		return out
	}
	for name, want := range map[string]string{
		"_xmpp-client._tcp.chat.test.":  port(p.C2S),
		"_xmpp-server._tcp.chat.test.":  port(p.S2S),
		"_xmpps-client._tcp.chat.test.": port(p.DirectTLS),
	} {
		var got []string
		if !Eventually(5*time.Second, func() bool { got = ports(name); return slices.Equal(got, []string{want}) }) {
			t.Errorf("%s: ports %v, want only Prosody's %s", name, got, want)
		}
	}
}
