package main

import (
	"slices"
	"strings"
	"testing"
)

// A target in a child zone that voip.test delegates (dc1.voip.test, on its own server) is resolved by
// following the referral (RFC 1034 section 4.3.2), as a resolver does, and probed; the parent's referral
// is not "no address". Issue 24 item 11.
func TestCheckTargetInDelegatedChild(t *testing.T) {
	e := newEnv(t)
	e.service("_sips._tcp", []string{"sip1"}, sipTLS("200 OK", e.tlsCfg))
	// sip2.dc1 gets its A record in the child zone only: the fake's address is picked as for any target.
	e.service("_sips._tcp", []string{"sip2.dc1"}, sipTLS("200 OK", e.tlsCfg))
	var parentLines, childLines []string
	for _, l := range e.lines {
		if strings.HasPrefix(l, "sip2.dc1 IN A ") {
			childLines = append(childLines, l)
			continue
		}
		parentLines = append(parentLines, l)
	}
	e.lines = parentLines
	parent := e.zone(1, 3, "dc1 IN NS ns.dc1", "ns.dc1 IN A 127.0.60.4")
	child := "$ORIGIN dc1.voip.test.\n$TTL 300\n@ IN SOA ns hostmaster 1 7200 3600 1209600 300\n@ IN NS ns\nns IN A 127.0.60.4\n" +
		strings.ReplaceAll(strings.Join(childLines, "\n"), "sip2.dc1 ", "sip2 ") + "\n"
	port := startNS(t, nil, parent, parent, parent, child)
	checkDelegatedTarget(t, e, port)
	// With one authoritative server (ns1 only: a zone of one NS record), the same.
	one := e.zone(1, 1, "dc1 IN NS ns.dc1", "ns.dc1 IN A 127.0.60.2")
	port = startNS(t, nil, one, strings.ReplaceAll(child, "127.0.60.4", "127.0.60.2"))
	checkDelegatedTarget(t, e, port)
}

func checkDelegatedTarget(t *testing.T, e *env, port int) {
	t.Helper()
	code, r := e.report(port, "voip.test")
	c := r.Checks[0]
	got := codes(c.Findings)
	if slices.Contains(got, "no-address") || slices.Contains(got, "target-down") || code != exitOK {
		t.Fatalf("exit %d, findings:\n%s", code, findingsText(c.Findings))
	}
	var probed bool
	for _, p := range c.Probes {
		probed = probed || p.Target == "sip2.dc1.voip.test." && p.Up
	}
	var tr TargetReport
	for _, x := range c.Targets {
		if x.Name == "sip2.dc1.voip.test." {
			tr = x
		}
	}
	if !probed || !tr.Exists || len(tr.Addresses) != 1 || tr.Error != "" {
		t.Errorf("target %+v, probed %v; probes %+v", tr, probed, c.Probes)
	}
}

// An SRV name in a delegated child (here one a NAPTR record points to) is asked of the child's servers
// after the parent's referral, so its records count and naptr-no-srv does not fire. Issue 24 item 11.
func TestCheckSRVInDelegatedChild(t *testing.T) {
	e := newEnv(t)
	e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
	e.add(`@ IN NAPTR 10 10 "S" "SIPS+D2T" "" _sips._tcp.pbx.dc1.voip.test.`)
	parent := e.zone(1, 2, "dc1 IN NS ns.dc1", "ns.dc1 IN A 127.0.60.3")
	child := "$ORIGIN dc1.voip.test.\n$TTL 300\n@ IN SOA ns hostmaster 1 7200 3600 1209600 300\n@ IN NS ns\nns IN A 127.0.60.3\n"
	for _, l := range e.lines { // the same targets and ports, under the child's name
		if strings.HasPrefix(l, "_sips._tcp IN SRV ") {
			child += strings.Replace(l, "_sips._tcp", "_sips._tcp.pbx", 1) + ".voip.test.\n"
		}
	}
	nsPort := startNS(t, nil, parent, parent, child)
	code, r := e.report(nsPort, "voip.test")
	c := r.Checks[0]
	if slices.Contains(codes(c.Findings), "naptr-no-srv") || code != exitOK {
		t.Fatalf("exit %d, findings:\n%s", code, findingsText(c.Findings))
	}
	n := 0
	for _, p := range c.Probes {
		if p.Service == "_sips._tcp.pbx.dc1.voip.test." && p.Up {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d probes of the child's SRV records up, want 2: %+v", n, c.Probes)
	}
}
