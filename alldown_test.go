package srvhealth

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/srvhealth/srvhealth/health"
)

// TestAllDownServiceAndLog checks issue 24 item 6 on the plugin's side: all_down_total names the service,
// and a name's transitions into and out of all-down are logged once each, however many answers go out.
func TestAllDownServiceAndLog(t *testing.T) {
	saved := allDownNames
	allDownNames = &allDownLog{down: map[allDownKey]struct{}{}}
	defer func() { allDownNames = saved }()

	view := &fakeView{status: map[string]health.Status{}}
	for k, v := range allDown {
		view.status[k] = v
	}
	h := newTestHandler(t, "srvhealth example.com {\nall_down nodata\n}", view, upstream(sipAnswer))
	counter := allDownCount.WithLabelValues("", "_sip._tcp", "nodata")
	before := testutil.ToFloat64(counter)

	out := captureLog(func() {
		for range 3 {
			serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
		}
	})
	if n := testutil.ToFloat64(counter) - before; n != 3 {
		t.Errorf("all_down_total{service=\"_sip._tcp\",policy=\"nodata\"} rose by %v, want 3", n)
	}
	if n := strings.Count(out, "every target of _sip._tcp.example.com. is down"); n != 1 || !strings.Contains(out, "Service _sip._tcp:") || !strings.Contains(out, "all_down nodata") {
		t.Errorf("%d all-down lines, want 1 naming the service and the policy:\n%s", n, out)
	}

	view.status["sip2.example.com."] = up
	out = captureLog(func() {
		for range 3 {
			serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
		}
	})
	if n := strings.Count(out, "_sip._tcp.example.com. has a target up again"); n != 1 || strings.Contains(out, "is down") {
		t.Errorf("%d recovery lines, want 1 and no all-down line:\n%s", n, out)
	}
	if n := testutil.ToFloat64(counter) - before; n != 3 {
		t.Errorf("all_down_total rose by %v after recovery, want still 3", n)
	}
}

// TestAllDownLogBounded checks that names past maxAllDownNames are neither remembered nor logged.
func TestAllDownLogBounded(t *testing.T) {
	l := &allDownLog{down: map[allDownKey]struct{}{}}
	svc := &Service{Label: "_sip._udp."}
	out := captureLog(func() {
		for i := range maxAllDownNames + 10 {
			l.note("dns://:53", svc, "_sip._udp.n"+strings.Repeat("x", i%7)+dns.Fqdn(string(rune('a'+i%26))+strings.Repeat("y", i/26)), outcome{allDown: true}, nil)
		}
	})
	if len(l.down) != maxAllDownNames || l.n.Load() != maxAllDownNames || strings.Count(out, "is down") != maxAllDownNames {
		t.Errorf("%d names remembered, %d logged, want %d", len(l.down), strings.Count(out, "is down"), maxAllDownNames)
	}
}

// A signed RRset served whole to a DO query (its targets down, but a subset would fail validation) is no
// recovery: it logs nothing, so mixed DO and plain queries do not make a line each.
func TestAllDownLogSignedIsNoRecovery(t *testing.T) {
	l := &allDownLog{down: map[allDownKey]struct{}{}}
	svc := &Service{Label: "_sip._tcp."}
	served := new(dns.Msg)
	served.Answer = []dns.RR{&dns.SRV{Hdr: dns.RR_Header{Name: "_sip._tcp.example.com.", Rrtype: dns.TypeSRV, Class: dns.ClassINET}, Target: "sip1.example.com."}}
	out := captureLog(func() {
		for range 3 {
			l.note("", svc, "_sip._tcp.example.com.", outcome{allDown: true}, nil)
			l.note("", svc, "_sip._tcp.example.com.", outcome{signed: true}, served)
		}
	})
	if strings.Count(out, "is down") != 1 || strings.Contains(out, "up again") {
		t.Errorf("want one all-down line and no recovery:\n%s", out)
	}
	out = captureLog(func() { l.note("", svc, "_sip._tcp.example.com.", outcome{}, served) })
	if !strings.Contains(out, "up again") {
		t.Errorf("an answer that keeps a target logs no recovery:\n%s", out)
	}
}
