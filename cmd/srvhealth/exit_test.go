package main

import (
	"strings"
	"testing"
)

// No authoritative server of the zone answers: nothing was fetched, so the check could not run (3), and
// the table does not claim the domain has no records.
func TestCheckNoAuthoritativeAnswers(t *testing.T) {
	e := newEnv(t)
	e.healthy(1)
	// The resolver (ns1) knows the zone, whose NS records name two addresses where nothing listens.
	z := strings.Replace(e.zone(1, 1), "@ IN NS ns1\n", "@ IN NS ns8\nns8 IN A 127.0.60.8\n@ IN NS ns9\nns9 IN A 127.0.60.9\n", 1)
	port := startNS(t, nil, z)
	code, r := e.report(port, "voip.test", "--no-probe")
	c := r.Checks[0]
	if code != exitUnknown || r.Status != "unknown" || !strings.Contains(c.Error, "no authoritative server of voip.test. answers") {
		t.Fatalf("exit %d (%s), error %q, findings:\n%s", code, r.Status, c.Error, findingsText(c.Findings))
	}
	_, out, _ := e.run(port, "voip.test", "--no-probe")
	if strings.Contains(out, "no SIP or XMPP SRV records") || !strings.Contains(out, "ns8.voip.test.") || !strings.Contains(out, "UNKNOWN") {
		t.Errorf("table:\n%s", out)
	}
}

// Across the domains of one run the worst status wins in the monitoring-plugin order CRITICAL, UNKNOWN,
// WARNING, OK: a domain that could not be checked does not hide another domain's CRITICAL, and hides a
// WARNING.
func TestCheckExitAcrossDomains(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(e *env)
		want  int
	}{
		{"critical and unknown", func(e *env) {
			e.service("_sip._tcp", []string{"sip1", "sip2"}, silent)
			e.service("_sips._tcp", []string{"sip1", "sip2"}, silent)
		}, exitCritical},
		{"warning and unknown", func(e *env) {
			e.service("_sip._udp", []string{"sip1"}, sipUDP("503 Service Unavailable"))
			e.service("_sip._udp", []string{"sip2"}, sipUDP("200 OK"))
			e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
		}, exitUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.build(e)
			port := e.serve()
			// other.test is no zone of the fakes: its check cannot run.
			for _, order := range [][]string{{"voip.test", "other.test"}, {"other.test", "voip.test"}} {
				code, r := e.report(port, order...)
				if code != tc.want {
					t.Errorf("%v: exit %d (%s), want %d", order, code, r.Status, tc.want)
				}
			}
		})
	}
}

// Every authoritative server lame: a finding about the domain (2), and the table does not claim the
// domain has no records, since none was asked with authority.
func TestCheckAllLame(t *testing.T) {
	e := newEnv(t)
	e.healthy(1)
	z := e.zone(1, 2)
	port := startNS(t, []nsMode{nsLame, nsLame}, z, z)
	code, out, _ := e.run(port, "voip.test", "--no-probe")
	if code != exitCritical || strings.Contains(out, "no SIP or XMPP SRV records") || !strings.Contains(out, "ns-lame") {
		t.Errorf("exit %d, table:\n%s", code, out)
	}
}
