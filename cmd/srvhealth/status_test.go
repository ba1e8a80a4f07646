package main

import (
	"bytes"
	"strings"
	"testing"
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
