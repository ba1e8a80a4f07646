package test

import (
	"bytes"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestShadow runs the same zone with and without srvhealth in shadow mode: once the dead target is probed
// down (the status says so), every answer of the shadow block is byte for byte the plain block's, while
// dropped_total counts the record srvhealth would have dropped (issue 22).
func TestShadow(t *testing.T) {
	live := TCPPeer(t, false)
	zone := WriteFile(t, "db", liveDeadZone("example.com", live, ClosedPort(t)))
	plain := CoreDNS(t, `example.com:0 {
		bind 127.0.0.1
		file `+zone+`
	}`)
	shadow := CoreDNS(t, `example.com:0 {
		bind 127.0.0.1
		srvhealth {
			shadow
			probe _sip._tcp tcp
			interval 100ms
			timeout 50ms
			fails 2
			status 127.0.0.1/32
		}
		file `+zone+`
	}`)
	if !Eventually(10*time.Second, func() bool {
		Exchange(t, "udp", shadow.UDP, "_sip._tcp.example.com.", dns.TypeSRV) // registers the targets
		return statusStates(statusOf(t, "udp", shadow.UDP, "127.0.0.1", "_sip._tcp.example.com."))["dead.example.com."] == "down"
	}) {
		t.Fatal("the status never showed the dead target down")
	}
	dropped0 := MetricSum(t, "coredns_srvhealth_dropped_total", map[string]string{"reason": "down"})
	const queries = 20
	for i := range queries {
		for _, q := range []struct {
			name  string
			qtype uint16
		}{{"_sip._tcp.example.com.", dns.TypeSRV}, {"dead.example.com.", dns.TypeA}} {
			m := new(dns.Msg).SetQuestion(q.name, q.qtype)
			m.Id = uint16(1000 + i)
			want, err := ExchangeMsg(t, "udp", plain.UDP, m).Pack()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ExchangeMsg(t, "udp", shadow.UDP, m).Pack()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("query %d for %s: the shadow block's answer differs from the plain block's:\n got %x\nwant %x", i, q.name, got, want)
			}
		}
	}
	if d := MetricSum(t, "coredns_srvhealth_dropped_total", map[string]string{"reason": "down"}) - dropped0; d < queries {
		t.Errorf("dropped_total{reason=down} grew by %v over %d answers that served the dead target, want %d", d, queries, queries)
	}
}
