package test

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/internal/testpeer"
)

// statusOf asks for the CH TXT status of name from the client address from, over network, and returns the
// reply.
func statusOf(t *testing.T, network, server, from, name string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	var local net.Addr = &net.UDPAddr{IP: net.ParseIP(from)}
	if network == "tcp" {
		local = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c := &dns.Client{Net: network, Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: local, Timeout: 2 * time.Second}}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("CH TXT %s from %s: %v", name, from, err)
	}
	return r
}

// statusStates returns target -> state of a status answer.
func statusStates(m *dns.Msg) map[string]string {
	out := map[string]string{}
	for _, rr := range m.Answer {
		txt, ok := rr.(*dns.TXT)
		if !ok {
			continue
		}
		var target, state string
		for _, s := range txt.Txt {
			k, v, _ := strings.Cut(s, "=")
			switch k {
			case "target":
				target = v
			case "state":
				state = v
			}
		}
		out[target] = state
	}
	return out
}

// TestStatusAndDrain follows two Kamailio targets through the status answers while one is killed,
// restarted, drained by a reload and brought back by another; checks that a client outside the allowed
// CIDRs is refused, and that a large status answer is truncated over UDP and whole over TCP.
func TestStatusAndDrain(t *testing.T) {
	srvhealthCmd := Srvhealth(t)
	p1 := testpeer.Kamailio(t, testpeer.KamailioConfig{Addr: "127.0.34.1"})
	p2 := testpeer.Kamailio(t, testpeer.KamailioConfig{Addr: "127.0.34.2"})
	const origin = "status.test."
	var zone strings.Builder
	fmt.Fprintf(&zone, `$ORIGIN %s
@         300 IN SOA ns hostmaster 1 7200 3600 1209600 60
@         300 IN NS  ns
ns        300 IN A   127.0.0.1
_sip._udp 300 IN SRV 10 50 %d sip1
_sip._udp 300 IN SRV 10 50 %d sip2
sip1      300 IN A   127.0.34.1
sip2      300 IN A   127.0.34.2
`, origin, p1.UDPTCP.Port(), p2.UDPTCP.Port())
	for i := range 60 { // a service whose targets are out of the probe scope: a status answer too big for UDP
		fmt.Fprintf(&zone, "_xmpp-client._tcp 300 IN SRV 10 50 5222 xmpp%d.provider.example.\n", i)
	}
	db := WriteFile(t, "db", zone.String())
	port := FreePort(t)
	corefile := func(extra string) string {
		return origin + `:` + port + ` {
			bind 127.0.0.1
			srvhealth {
				status 127.0.0.1/32 127.0.0.2/32
				interval 200ms
				timeout 100ms
				fails 2
				rises 1
				` + extra + `
			}
			file ` + db + `
		}`
	}
	s := CoreDNS(t, corefile(""))
	server := "127.0.0.1:" + port
	srvName := "_sip._udp." + origin
	sip1, sip2 := "sip1."+origin, "sip2."+origin
	states := func() map[string]string { return statusStates(statusOf(t, "udp", server, "127.0.0.2", srvName)) }
	waitStates := func(what string, want map[string]string) {
		t.Helper()
		var got map[string]string
		if !Eventually(10*time.Second, func() bool {
			Exchange(t, "udp", server, srvName, dns.TypeSRV) // keeps the targets seen
			got = states()
			return got[sip1] == want[sip1] && got[sip2] == want[sip2]
		}) {
			t.Fatalf("%s: status %v, want %v", what, got, want)
		}
	}
	answers := func() []string { return SRVTargets(Exchange(t, "udp", server, srvName, dns.TypeSRV)) }

	if got := states(); got[sip1] != "unknown" || got[sip2] != "unknown" {
		t.Errorf("before any SRV answer: status %v, want both targets listed as unknown", got)
	}
	waitStates("started", map[string]string{sip1: "up", sip2: "up"})

	p2.Stop()
	waitStates("sip2 killed", map[string]string{sip1: "up", sip2: "down"})
	var sip2Status []string
	for _, rr := range statusOf(t, "udp", server, "127.0.0.2", srvName).Answer {
		if txt := rr.(*dns.TXT).Txt; slices.Contains(txt, "target="+sip2) {
			sip2Status = txt
		}
	}
	if !slices.ContainsFunc(sip2Status, func(s string) bool { return strings.HasPrefix(s, "addr=127.0.34.2 down ") }) ||
		!slices.ContainsFunc(sip2Status, func(s string) bool { return strings.HasPrefix(s, "since=") }) {
		t.Errorf("status of the killed target %q, want its address down with the last probe's result, and since when", sip2Status)
	}
	if got := answers(); !slices.Equal(got, []string{sip1}) {
		t.Errorf("SRV answer with sip2 killed: %v", got)
	}
	// The operator's command shows the same, as a table and as JSON, and warns (exit 1): one of two down.
	out, errOut, code := srvhealthCmd("status", "--server", server, srvName)
	if code != 1 || !regexp.MustCompile(`(?m)^sip2\.status\.test\.\s+\d+\s+sip-udp\s+down\s`).MatchString(out) {
		t.Errorf("srvhealth status: exit %d, want 1 and sip2 down in the table:\n%s%s", code, out, errOut)
	}
	out, _, _ = srvhealthCmd("status", "--json", "--server", server, srvName)
	var js []struct{ Target, State string }
	if err := json.Unmarshal([]byte(out), &js); err != nil || len(js) != 2 {
		t.Errorf("srvhealth status --json: %v, %d targets:\n%s", err, len(js), out)
	}

	p2.Start()
	waitStates("sip2 restarted", map[string]string{sip1: "up", sip2: "up"})

	if err := s.Restart(corefile("drain " + sip2)); err != nil {
		t.Fatal(err)
	}
	if got := answers(); !slices.Equal(got, []string{sip1}) {
		t.Errorf("first SRV answer after the drain: %v, want sip2 gone at once", got)
	}
	if got := states(); got[sip2] != "drained" {
		t.Errorf("status after the drain: %v, want sip2 drained", got)
	}
	if v, ok := MetricValue(t, "coredns_srvhealth_drained", map[string]string{"target": sip2}); !ok || v != 1 {
		t.Errorf("coredns_srvhealth_drained{target=%s} = %v, %v; want 1", sip2, v, ok)
	}

	if err := s.Restart(corefile("")); err != nil {
		t.Fatal(err)
	}
	if got := answers(); !slices.Equal(got, []string{sip1, sip2}) {
		t.Errorf("first SRV answer after the drain was removed: %v, want sip2 back", got)
	}
	if _, ok := MetricValue(t, "coredns_srvhealth_drained", map[string]string{"target": sip2}); ok {
		t.Error("the drained series outlived the drain")
	}

	// Everyone else is refused.
	if r := statusOf(t, "udp", server, "127.0.0.5", srvName); r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
		t.Errorf("client outside the allowed CIDRs: rcode %s, %d records; want REFUSED", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	if _, errOut, code := srvhealthCmd("status", "--server", "127.0.0.1:"+port, "no-status.test"); code != 3 || !strings.Contains(errOut, "REFUSED") {
		t.Errorf("srvhealth status of a zone the server does not have: exit %d (%s), want 3 and REFUSED", code, errOut)
	}

	// Every monitored target under the one documented name.
	if got := statusStates(statusOf(t, "udp", server, "127.0.0.2", "srvhealth."+origin)); got[sip1] != "up" || got[sip2] != "up" {
		t.Errorf("srvhealth.%s: %v, want both targets up", origin, got)
	}

	// 60 out-of-scope targets do not fit a UDP answer: TC over UDP, whole over TCP.
	xmpp := "_xmpp-client._tcp." + origin
	if r := statusOf(t, "udp", server, "127.0.0.2", xmpp); !r.Truncated {
		t.Errorf("UDP status of 60 targets: TC not set (%d records)", len(r.Answer))
	}
	r := statusOf(t, "tcp", server, "127.0.0.2", xmpp)
	if got := statusStates(r); r.Truncated || len(got) != 60 || got["xmpp7.provider.example."] != "out of scope" {
		t.Errorf("TCP status of 60 targets: TC %v, %d targets (xmpp7: %q), want all 60 out of scope", r.Truncated, len(got), got["xmpp7.provider.example."])
	}
}
