package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// srvhealthFilter is a srvhealth in front of the zone, with status: SRV answers leave out the targets in
// down (TTL 5, min_ttl), a name whose every target is down gets SERVFAIL (all_down servfail), and CH TXT
// for an SRV name lists every target of the zone's records with its state, as the status view does.
func srvhealthFilter(down ...string) nsFilter {
	isDown := func(target string) bool { return slices.Contains(down, strings.ToLower(target)) }
	return func(z *zoneData, q dns.Question, m *dns.Msg) {
		name := strings.ToLower(q.Name)
		switch {
		case q.Qclass == dns.ClassCHAOS && q.Qtype == dns.TypeTXT:
			m.Answer, m.Ns, m.Rcode = nil, nil, dns.RcodeSuccess
			for _, rr := range z.names[name] {
				s, ok := rr.(*dns.SRV)
				if !ok {
					continue
				}
				state := "up"
				if isDown(s.Target) {
					state = "down"
				}
				m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS},
					Txt: []string{"target=" + strings.ToLower(s.Target), "port=" + strconv.Itoa(int(s.Port)), "probe=sip-udp", "state=" + state}})
			}
			if len(m.Answer) == 0 {
				m.Rcode = dns.RcodeRefused
			}
		case q.Qtype == dns.TypeSRV && len(m.Answer) > 0:
			var kept []dns.RR
			for _, rr := range m.Answer {
				if s, ok := rr.(*dns.SRV); ok && isDown(s.Target) {
					continue
				}
				rr.Header().Ttl = 5
				kept = append(kept, rr)
			}
			if len(kept) == 0 {
				m.Answer, m.Rcode = nil, dns.RcodeServerFailure
				return
			}
			m.Answer = kept
		}
	}
}

// An authoritative server with srvhealth in front of its zone serves what its probes let through. The
// check finds it by the status view, says so (ns-filtered), probes the targets the answer left out, and
// does not call the SERVFAIL of the all_down servfail policy lame. Issue 24 item 8.
func TestCheckFilteredAuthoritative(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(e *env)
		down  []string
		code  int
		want  []string
	}{
		// Before: OK, sip2 never seen.
		{"one target left out", func(e *env) {
			e.service("_sip._udp", []string{"sip1"}, sipUDP("200 OK"))
			e.service("_sip._udp", []string{"sip2"}, sipUDP("503 Service Unavailable"))
			e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
		}, []string{"sip2.voip.test."}, exitWarning, []string{"ns-filtered", "target-down"}},
		// Before: ns-lame.
		{"every target down, servfail", func(e *env) {
			e.service("_sip._udp", []string{"sip1", "sip2"}, sipUDP("503 Service Unavailable"))
			e.service("_sips._tcp", []string{"sip3", "sip4"}, sipTLS("200 OK", e.tlsCfg))
		}, []string{"sip1.voip.test.", "sip2.voip.test."}, exitCritical, []string{"ns-filtered", "service-down"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.build(e)
			z := e.zone(1, 2)
			f := srvhealthFilter(tc.down...)
			port := startNSWith(t, nil, []nsFilter{f, f}, z, z)
			code, r := e.report(port, "voip.test")
			c := r.Checks[0]
			got := codes(c.Findings)
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("no %s", w)
				}
			}
			if slices.Contains(got, "ns-lame") || code != tc.code || t.Failed() {
				t.Fatalf("exit %d, want %d; findings:\n%s", code, tc.code, findingsText(c.Findings))
			}
		})
	}
}

// Without the status view (not allowed for this client), a SERVFAIL for one name from a server that
// answers the zone's SOA authoritatively is not a lame server: it is said as what clients get,
// name-servfail, with srvhealth's all_down servfail policy as a possible cause.
func TestCheckServfailWithoutStatus(t *testing.T) {
	e := newEnv(t)
	e.service("_sip._udp", []string{"sip1", "sip2"}, sipUDP("503 Service Unavailable"))
	e.service("_sips._tcp", []string{"sip3", "sip4"}, sipTLS("200 OK", e.tlsCfg))
	z := e.zone(1, 2)
	base := srvhealthFilter("sip1.voip.test.", "sip2.voip.test.")
	noStatus := func(z *zoneData, q dns.Question, m *dns.Msg) {
		base(z, q, m)
		if q.Qclass == dns.ClassCHAOS {
			m.Answer, m.Rcode = nil, dns.RcodeRefused
		}
	}
	port := startNSWith(t, nil, []nsFilter{noStatus, noStatus}, z, z)
	code, r := e.report(port, "voip.test")
	c := r.Checks[0]
	got := codes(c.Findings)
	if slices.Contains(got, "ns-lame") || !slices.Contains(got, "name-servfail") || code != exitCritical {
		t.Fatalf("exit %d; findings:\n%s", code, findingsText(c.Findings))
	}
	for _, f := range c.Findings {
		if f.Code == "name-servfail" && !strings.Contains(f.Message, "all_down servfail") {
			t.Errorf("message %q does not name the all_down policy", f.Message)
		}
	}
}

// With the zone file given beside the domain (--zone), the file is the truth: a record of the file that
// an authoritative server does not serve is reported (zone-not-served) and its target probed, even
// when the server's status view is not open to this client. Issue 24 item 8.
func TestCheckZoneFileAsTruth(t *testing.T) {
	e := newEnv(t)
	e.service("_sip._udp", []string{"sip1"}, sipUDP("200 OK"))
	e.service("_sip._udp", []string{"sip2"}, sipUDP("503 Service Unavailable"))
	e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
	z := e.zone(1, 2)
	base := srvhealthFilter("sip2.voip.test.")
	noStatus := func(z *zoneData, q dns.Question, m *dns.Msg) {
		base(z, q, m)
		if q.Qclass == dns.ClassCHAOS {
			m.Answer, m.Rcode = nil, dns.RcodeRefused
		}
	}
	port := startNSWith(t, nil, []nsFilter{noStatus, noStatus}, z, z)
	file := filepath.Join(t.TempDir(), "db.voip.test")
	if err := os.WriteFile(file, []byte(z), 0o644); err != nil {
		t.Fatal(err)
	}
	code, r := e.report(port, "voip.test", "--zone", file)
	var got []string
	for _, c := range r.Checks {
		got = append(got, codes(c.Findings)...)
	}
	if !slices.Contains(got, "zone-not-served") || !slices.Contains(got, "target-down") || code != exitWarning {
		t.Fatalf("exit %d, findings: %v", code, got)
	}
}
