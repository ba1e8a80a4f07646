package main

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestStatusName(t *testing.T) {
	for arg, want := range map[string]string{
		"_sip._udp.Example.com": "_sip._udp.example.com.",
		"example.com":           "srvhealth.example.com.",
		"example.com.":          "srvhealth.example.com.",
		"":                      "srvhealth.",
		".":                     "srvhealth.",
	} {
		if got := statusName(arg); got != want {
			t.Errorf("statusName(%q) = %q, want %q", arg, got, want)
		}
	}
}

func TestParseStatus(t *testing.T) {
	got := parseStatus([]string{"target=sip2.example.com.", "port=5060", "probe=sip-udp", "domain=example.com",
		"state=drained", "probed=down", "since=2026-11-30T03:00:00Z", "future=ignored",
		"addr=192.0.2.2 down 2s connection refused", "addr=2001:db8::2 up 410µs ok"})
	if got.Target != "sip2.example.com." || got.Port != 5060 || got.Probe != "sip-udp" || got.State != "drained" ||
		got.Probed != "down" || got.Since != "2026-11-30T03:00:00Z" || len(got.Addrs) != 2 {
		t.Fatalf("parseStatus = %+v", got)
	}
	if a := got.Addrs[0]; a.Addr != "192.0.2.2" || a.State != "down" || a.RTT != "2s" || a.Result != "connection refused" {
		t.Errorf("address %+v, want the result with its spaces", a)
	}
	var b bytes.Buffer
	printStatus(&b, []TargetStatus{got})
	if out := b.String(); !strings.Contains(out, "drained (down)") || !strings.Contains(out, "connection refused") {
		t.Errorf("table:\n%s", out)
	}
}

// TestParseStatusProber: a server in a fleet names the member whose round each state comes from, and the
// table shows it in a column of its own, left out for a server alone.
func TestParseStatusProber(t *testing.T) {
	got := parseStatus([]string{"target=sip1.example.com.", "port=5060", "probe=tcp", "state=up",
		"checked=2026-11-30T03:00:00Z", "prober=coredns-1@10.0.0.2:7946", "addr=192.0.2.1 up 1ms ok"})
	if got.Prober != "coredns-1@10.0.0.2:7946" {
		t.Fatalf("prober %q", got.Prober)
	}
	var b bytes.Buffer
	printStatus(&b, []TargetStatus{got, {Target: "sip2.example.com.", Port: 5060, Probe: "tcp", State: "unknown"}})
	out := b.String()
	if !strings.Contains(out, "PROBER") || !strings.Contains(out, "coredns-1@10.0.0.2:7946") {
		t.Errorf("table:\n%s", out)
	}
	b.Reset()
	got.Prober = ""
	printStatus(&b, []TargetStatus{got})
	if strings.Contains(b.String(), "PROBER") {
		t.Errorf("a table without a fleet has a PROBER column:\n%s", b.String())
	}
}

func TestStatusExit(t *testing.T) {
	up, down := TargetStatus{State: "up"}, TargetStatus{State: "down"}
	drainedDown := TargetStatus{State: "drained", Probed: "down"}
	drainedUp := TargetStatus{State: "drained", Probed: "up"}
	for _, tc := range []struct {
		ts   []TargetStatus
		want int
	}{
		{[]TargetStatus{up, drainedUp}, exitOK},
		{[]TargetStatus{up, down}, exitWarning},
		{[]TargetStatus{down, drainedDown}, exitCritical},
		{nil, exitOK},
	} {
		if got := statusExit(tc.ts); got != tc.want {
			t.Errorf("statusExit(%+v) = %d, want %d", tc.ts, got, tc.want)
		}
	}
}

// chaosServer answers every question with the message answer builds, over UDP on 127.0.0.1, until the
// test ends; it returns the address.
func chaosServer(t *testing.T, answer func(q *dns.Msg) *dns.Msg) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		w.WriteMsg(answer(r))
	})}
	started := make(chan struct{})
	s.NotifyStartedFunc = func() { close(started) }
	go s.ActivateAndServe()
	<-started
	t.Cleanup(func() { s.Shutdown() })
	return pc.LocalAddr().String()
}

// A monitoring check must not say OK about an answer that carries no status: the server's own error
// (an "error=" TXT from a block whose backend fails), a refusal, a failure, or nothing at all. Each is
// UNKNOWN (3) with a line on stderr that says what came back.
func TestStatusUnknownAnswers(t *testing.T) {
	txt := func(q *dns.Msg, strs ...[]string) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, s := range strs {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT,
				Class: dns.ClassCHAOS}, Txt: s})
		}
		return m
	}
	rcode := func(code int) func(q *dns.Msg) *dns.Msg {
		return func(q *dns.Msg) *dns.Msg { m := new(dns.Msg); m.SetRcode(q, code); return m }
	}
	upTarget := []string{"target=sip1.voip.test.", "port=5060", "probe=sip-udp", "state=up", "addr=127.0.0.1 up 1ms sip 200 OK"}
	downTarget := []string{"target=sip2.voip.test.", "port=5060", "probe=sip-udp", "state=down"}
	for _, tc := range []struct {
		name   string
		answer func(q *dns.Msg) *dns.Msg
		exit   int
		stderr string
	}{
		{"backend error", func(q *dns.Msg) *dns.Msg {
			return txt(q, []string{"error=dial udp 127.0.0.1:1: connection refused"})
		}, exitUnknown, "server error: dial udp 127.0.0.1:1: connection refused"},
		{"error beside a target", func(q *dns.Msg) *dns.Msg {
			return txt(q, upTarget, []string{"error=timeout"})
		}, exitUnknown, "server error: timeout"},
		{"empty answer", func(q *dns.Msg) *dns.Msg { return txt(q) }, exitUnknown, "no targets"},
		{"not a status record", func(q *dns.Msg) *dns.Msg {
			return txt(q, []string{"CoreDNS-1.15.0"})
		}, exitUnknown, "not a status record"},
		{"REFUSED", rcode(dns.RcodeRefused), exitUnknown, "REFUSED"},
		{"SERVFAIL", rcode(dns.RcodeServerFailure), exitUnknown, "SERVFAIL"},
		{"NXDOMAIN", rcode(dns.RcodeNameError), exitUnknown, "NXDOMAIN"},
		{"one up", func(q *dns.Msg) *dns.Msg { return txt(q, upTarget) }, exitOK, ""},
		{"one down", func(q *dns.Msg) *dns.Msg { return txt(q, upTarget, downTarget) }, exitWarning, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := chaosServer(t, tc.answer)
			var stdout, stderr bytes.Buffer
			got := run([]string{"status", "--server", addr, "--timeout", "2s", "_sip._udp.voip.test"}, &stdout, &stderr)
			if got != tc.exit {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tc.exit, stdout.String(), stderr.String())
			}
			if tc.stderr != "" && !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q, want it to say %q", stderr.String(), tc.stderr)
			}
			if tc.exit == exitUnknown && stdout.Len() > 0 {
				t.Errorf("a table for an answer without status:\n%s", stdout.String())
			}
		})
	}
}
