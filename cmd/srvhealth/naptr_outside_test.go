package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A NAPTR record that points to an SRV name outside the zone is followed through the resolver: with no
// SRV records there, naptr-no-srv fires; with records, they are linted and probed like the zone's own.
// Issue 24 item 14.
func TestCheckNAPTROutsideTheZone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		other  string // the other zone's records
		fire   bool
		probed string
	}{
		{"no SRV there", "", true, ""},
		{"SRV there", "_sips._tcp IN SRV 10 50 PORT sip1.voip.test.\n_sips._tcp IN SRV 10 50 PORT sip2.voip.test.\n", false, "_sips._tcp.other.test."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
			e.add(`@ IN NAPTR 10 10 "S" "SIPS+D2T" "" _sips._tcp.other.test.`)
			z := e.zone(1, 3)
			port := portOf(e, "_sips._tcp")
			other := "$ORIGIN other.test.\n@ IN SOA ns1.voip.test. hostmaster 1 7200 3600 1209600 300\n@ IN NS ns1.voip.test.\n" +
				strings.ReplaceAll(tc.other, "PORT", port)
			nsPort := startNS(t, nil, z+other, z, z) // ns1 is the resolver too, and serves other.test
			code, r := e.report(nsPort, "voip.test")
			c := r.Checks[0]
			if got := slices.Contains(codes(c.Findings), "naptr-no-srv"); got != tc.fire {
				t.Errorf("naptr-no-srv %v, want %v; exit %d, findings:\n%s", got, tc.fire, code, findingsText(c.Findings))
			}
			if tc.probed != "" && !slices.ContainsFunc(c.Probes, func(p ProbeReport) bool { return p.Service == tc.probed && p.Up }) {
				t.Errorf("no probe of %s: %+v", tc.probed, c.Probes)
			}
		})
	}
}

// portOf returns the port of the first record of label in e.
func portOf(e *env, label string) string {
	for _, l := range e.lines {
		var p, w, port int
		var target string
		if n, _ := fmt.Sscanf(l, label+" IN SRV %d %d %d %s", &p, &w, &port, &target); n == 4 {
			return strconv.Itoa(port)
		}
	}
	e.t.Fatalf("no %s in %v", label, e.lines)
	return ""
}

// An alias in the zone that leads out of it is followed through the resolver; when the resolver gives no
// answer for it, the target is unresolved, not a target without an address. Issue 24 item 14.
func TestCheckAliasOutOfTheZone(t *testing.T) {
	e := newEnv(t)
	e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
	e.add("_sips._tcp IN SRV 20 50 5061 alias", "alias IN CNAME sip.example.net.") // the resolver refuses example.net
	port := e.serve()
	_, r := e.report(port, "voip.test", "--no-probe")
	c := r.Checks[0]
	got := codes(c.Findings)
	if slices.Contains(got, "no-address") || !slices.Contains(got, "cname-target") {
		t.Errorf("findings:\n%s", findingsText(c.Findings))
	}
	for _, x := range c.Targets {
		if x.Name == "alias.voip.test." && (x.CNAME != "sip.example.net." || x.Error == "") {
			t.Errorf("alias: %+v, want the CNAME and why it is unresolved", x)
		}
	}
}
