package test

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestMetricsScraped checks the srvhealth series on the prometheus plugin's endpoint after probes ran.
func TestMetricsScraped(t *testing.T) {
	live := TCPPeer(t, false)
	deadPort := ClosedPort(t)
	zone := WriteFile(t, "db", liveDeadZone("example.com", live, deadPort))
	metrics := "127.0.0.1:" + FreePort(t)
	s := CoreDNS(t, `example.com:0 {
		prometheus `+metrics+`
		srvhealth {
			probe _sip._tcp tcp
			interval 100ms
			timeout 50ms
			fails 2
		}
		file `+zone+`
	}`)
	var last *dns.Msg
	if !Eventually(10*time.Second, func() bool {
		last = Exchange(t, "udp", s.UDP, "_sip._tcp.example.com.", dns.TypeSRV)
		return len(last.Answer) == 2
	}) {
		t.Fatalf("dead target never left the answer: %v", last.Answer)
	}
	_, body := HTTPGet(t, "http://"+metrics+"/metrics")
	for _, want := range []string{
		`coredns_srvhealth_target_up{domain="",port="` + live + `",probe="tcp",target="live.example.com."} 1`,
		`coredns_srvhealth_target_up{domain="",port="` + deadPort + `",probe="tcp",target="dead.example.com."} 0`,
		`coredns_srvhealth_probes_total{probe="tcp",result="up"}`,
		`coredns_srvhealth_probes_total{probe="tcp",result="down"}`,
		`coredns_srvhealth_probe_duration_seconds_count{probe="tcp"}`,
		`coredns_srvhealth_dropped_total{reason="down",server="dns://:0"}`,
		`coredns_srvhealth_targets 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Log(LinesWith(body, "srvhealth"))
	}
}
