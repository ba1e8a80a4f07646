package test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// scopeBackend is a CoreDNS answering for hard-scope.test with templates: _sip._tcp.Z.hard-scope.test
// has the targets lo.T, meta.T and ll.T, where T is the target domain and port the SRV port of zone Z,
// and lo.* is 127.0.0.1, meta.* the cloud metadata address 169.254.169.254, ll.* the link-local fe80::1.
func scopeBackend(t *testing.T, zones map[string][2]string) string {
	t.Helper()
	var b strings.Builder
	// One port for UDP and TCP: srvhealth resolves targets as a TCP client would, so forward asks the
	// backend over TCP.
	port := FreePort(t)
	b.WriteString(".:" + port + " {\n")
	for z, tp := range zones {
		fmt.Fprintf(&b, `	template IN SRV hard-scope.test {
		match ^_sip\._tcp\.%s\.hard-scope\.test\.$
		answer "{{ .Name }} 60 IN SRV 10 10 %[3]s lo.%[2]s.hard-scope.test."
		answer "{{ .Name }} 60 IN SRV 10 10 %[3]s meta.%[2]s.hard-scope.test."
		answer "{{ .Name }} 60 IN SRV 20 10 %[3]s ll.%[2]s.hard-scope.test."
		fallthrough
	}
`, strings.ReplaceAll(z, ".", `\.`), tp[0], tp[1])
	}
	b.WriteString(`	template IN A hard-scope.test {
		match ^lo\.
		answer "{{ .Name }} 60 IN A 127.0.0.1"
		fallthrough
	}
	template IN A hard-scope.test {
		match ^meta\.
		answer "{{ .Name }} 60 IN A 169.254.169.254"
		fallthrough
	}
	template IN AAAA hard-scope.test {
		match ^ll\.
		answer "{{ .Name }} 60 IN AAAA fe80::1"
		fallthrough
	}
	template IN ANY hard-scope.test {
		rcode NOERROR
	}
}
`)
	CoreDNS(t, b.String())
	return "127.0.0.1:" + port
}

// TestProbeScopeNeverContactsOutOfScope checks that whoever controls the records cannot point the
// server's probes at loopback, the cloud metadata address or a link-local address: with the default scope
// (targets outside the block's zones) and with a CIDR scope that holds none of the addresses, nothing is
// contacted over many intervals, nothing is probed and the targets are served unfiltered. A CIDR scope that
// holds 127.0.0.1 does probe it (the control that shows the test can fail).
func TestProbeScopeNeverContactsOutOfScope(t *testing.T) {
	quiet, quietConns := CountingPeer(t)     // must never see a connection
	control, controlConns := CountingPeer(t) // the scope that allows loopback probes this one
	backend := scopeBackend(t, map[string][2]string{
		"a": {"out-a", quiet},   // targets outside a.hard-scope.test
		"b": {"b", quiet},       // targets inside b.hard-scope.test
		"c": {"out-c", control}, // outside c.hard-scope.test, but scope lists 127.0.0.0/8
	})
	front := func(zone, scope string) (udp string) {
		return CoreDNS(t, zone+`:0 {
		srvhealth {
			probe _sip._tcp tcp
			interval 100ms
			timeout 50ms
			fails 1
			`+scope+`
		}
		forward . `+backend+`
	}`).UDP
	}
	wantAll := func(targetDomain string) []string {
		return []string{
			"ll." + targetDomain + ".hard-scope.test.",
			"lo." + targetDomain + ".hard-scope.test.",
			"meta." + targetDomain + ".hard-scope.test.",
		}
	}
	tcpProbesRun := func() float64 { return MetricSeries(t, "coredns_srvhealth_probes_total", "probe")["tcp"] }

	probes0 := tcpProbesRun()
	a := front("a.hard-scope.test", "")
	b := front("b.hard-scope.test", "scope 10.0.0.0/8")
	// 15 intervals: ample time for a target to be observed, resolved and probed, were it in scope.
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, c := range []struct{ udp, zone, domain string }{{a, "a", "out-a"}, {b, "b", "b"}} {
			m := Exchange(t, "udp", c.udp, "_sip._tcp."+c.zone+".hard-scope.test.", dns.TypeSRV)
			if got, want := SRVTargets(m), wantAll(c.domain); m.Rcode != dns.RcodeSuccess || !slices.Equal(got, want) {
				t.Fatalf("zone %s: rcode %s targets %v, want %v served unfiltered", c.zone, dns.RcodeToString[m.Rcode], got, want)
			}
		}
	}
	if n := quietConns.Load(); n != 0 {
		t.Errorf("%d connections to 127.0.0.1 from out-of-scope targets", n)
	}
	// probes_total is process-wide and other tests' servers may still be winding down, so it is only
	// logged. The per-target record is target_up: with fails 1, any probe of a target moves it out of
	// Unknown (up on success, down on failure), and that creates its series.
	t.Logf("tcp probes run in the process during the out-of-scope phase: %v", tcpProbesRun()-probes0)
	up := MetricSeries(t, "coredns_srvhealth_target_up", "target")
	for target := range up {
		if strings.HasSuffix(target, ".out-a.hard-scope.test.") || strings.HasSuffix(target, ".b.hard-scope.test.") {
			t.Errorf("target_up series for out-of-scope target %s", target)
		}
	}

	// The control: scope 127.0.0.0/8 probes lo.out-c (up), and still neither meta nor ll.
	c := front("c.hard-scope.test", "scope 127.0.0.0/8")
	lo := "lo.out-c.hard-scope.test."
	if !Eventually(5*time.Second, func() bool {
		m := Exchange(t, "udp", c, "_sip._tcp.c.hard-scope.test.", dns.TypeSRV)
		if got, want := SRVTargets(m), wantAll("out-c"); !slices.Equal(got, want) {
			t.Fatalf("zone c: targets %v, want %v", got, want)
		}
		return MetricSeries(t, "coredns_srvhealth_target_up", "target")[lo] == 1
	}) {
		t.Fatalf("scope 127.0.0.0/8 never probed %s up; control peer saw %d connections", lo, controlConns.Load())
	}
	if controlConns.Load() == 0 {
		t.Error("target_up is 1 but the loopback peer saw no connection")
	}
	up = MetricSeries(t, "coredns_srvhealth_target_up", "target")
	for _, target := range []string{"meta.out-c.hard-scope.test.", "ll.out-c.hard-scope.test."} {
		if v, ok := up[target]; ok {
			t.Errorf("target_up{target=%q} = %v: its address is outside scope 127.0.0.0/8", target, v)
		}
	}
	if n := quietConns.Load(); n != 0 {
		t.Errorf("%d connections to the port of the out-of-scope targets", n)
	}
}
