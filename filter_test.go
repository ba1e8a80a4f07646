package srvhealth

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

// The steps of the query path's pipeline, one table each: healthTTL, capper, fixAdditional and
// Config.match (the verdicts and the selection are policy's, tested there).

func TestHealthTTL(t *testing.T) {
	in := func(d time.Duration) health.Status { return health.Status{Resolved: true, Until: now.Add(d)} }
	for _, tc := range []struct {
		name string
		js   []judged
		want uint32
	}{
		{"nothing known: max_ttl", []judged{{served: true}}, 30},
		{"soonest served flip", []judged{{served: true, known: true, status: in(12 * time.Second)}, {served: true, known: true, status: in(20 * time.Second)}}, 12},
		{"dropped targets do not count", []judged{{served: false, known: true, status: in(2 * time.Second)}, {served: true}}, 30},
		{"never below min_ttl", []judged{{served: true, known: true, status: in(time.Second)}}, 5},
		{"a flip past max_ttl", []judged{{served: true, known: true, status: in(time.Hour)}}, 30},
		{"not resolved yet: min_ttl", []judged{{served: true, known: true}, {served: true, known: true, status: in(time.Hour)}}, 5},
		{"not resolved, first round due later: min_ttl", []judged{{served: true, known: true, status: health.Status{Until: now.Add(8 * time.Second)}}}, 5},
	} {
		if got := healthTTL(tc.js, now, 5*time.Second, 30*time.Second); got != tc.want {
			t.Errorf("%s: healthTTL = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestCapper(t *testing.T) {
	orig := []dns.RR{
		test.SRV("_sip._tcp.example.com. 300 IN SRV 10 0 5060 sip1.example.com."),
		test.SRV("_sip._tcp.example.com. 10 IN SRV 10 0 5060 sip2.example.com."),
		test.A("sip1.example.com. 300 IN A 192.0.2.1"),
		test.AAAA("sip1.example.com. 300 IN AAAA 2001:db8::1"),
		test.CNAME("alias.example.com. 300 IN CNAME sip1.example.com."),
	}
	rrs := slices.Clone(orig)
	c := capper{ttl: 30}
	c.capAll(rrs)
	for i, rr := range rrs {
		want := min(orig[i].Header().Ttl, 30)
		if rr.Header().Ttl != want {
			t.Errorf("%s: TTL %d, want %d", rr, rr.Header().Ttl, want)
		}
		if orig[i].Header().Ttl != []uint32{300, 10, 300, 300, 300}[i] {
			t.Errorf("the original record was modified: %s", orig[i])
		}
		if !dns.IsDuplicate(rr, orig[i]) {
			t.Errorf("capped record %s differs from %s in more than its TTL", rr, orig[i])
		}
	}
	if rrs[1] != orig[1] {
		t.Error("a record already under the cap was copied")
	}
}

func TestFixAdditional(t *testing.T) {
	srv := func(target string) *dns.SRV {
		return test.SRV("_sip._tcp.example.com. 300 IN SRV 10 0 5060 " + target)
	}
	extra := []dns.RR{
		test.A("sip1.example.com. 300 IN A 192.0.2.1"),
		test.A("sip2.example.com. 300 IN A 192.0.2.2"), // a dropped target
		test.A("sip3.example.com. 300 IN A 192.0.2.3"), // served, but this address is down
		test.A("sip3.example.com. 300 IN A 192.0.2.30"),
		test.A("ns.example.com. 300 IN A 192.0.2.53"), // glue of another name
	}
	js := []judged{
		{srv: srv("sip1.example.com."), served: true},
		{srv: srv("sip2.example.com."), served: false},
		{srv: srv("sip3.example.com."), served: true, known: true, status: health.Status{Down: []netip.Addr{netip.MustParseAddr("192.0.2.3")}}},
		{srv: srv("sip4.example.com."), served: true, known: true, status: health.Status{Up: []netip.Addr{netip.MustParseAddr("192.0.2.4")}}},
		{srv: srv("alias.example.com."), served: true, known: true, status: health.Status{CNAME: true, Up: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}},
	}
	out := fixAdditional(nil, extra, js, &capper{ttl: 30}, false, true)
	var got []string
	for _, rr := range out {
		got = append(got, rr.String())
	}
	want := []string{
		"sip1.example.com.\t30\tIN\tA\t192.0.2.1",
		"sip3.example.com.\t30\tIN\tA\t192.0.2.30",
		"ns.example.com.\t300\tIN\tA\t192.0.2.53",
		"sip4.example.com.\t30\tIN\tA\t192.0.2.4", // added: the backend sent none
	}
	if !slices.Equal(got, want) {
		t.Errorf("fixAdditional =\n%q\nwant\n%q", got, want)
	}
	// serve_all with every target down: the addresses of the down targets served stay.
	for i := range js {
		js[i].served, js[i].inExtra = true, false
	}
	if out := fixAdditional(nil, extra, js, &capper{ttl: 30}, true, true); len(out) != 6 {
		t.Errorf("keepDown: %d records, want the 5 of the backend and sip4's added", len(out))
	}
}

func TestMatch(t *testing.T) {
	cfg := mustParse(t, "srvhealth example.com {\n services _sip._tcp _xmpp-client._tcp\n}")
	for name, want := range map[string]string{
		"_sip._tcp.example.com.":         "_sip._tcp.",
		"_SIP._TCP.sub.example.com.":     "_sip._tcp.",
		"_xmpp-client._tcp.example.com.": "_xmpp-client._tcp.",
		"_sip._udp.example.com.":         "",
		"_sip._tcp.example.org.":         "",
		"_sip._tcp.":                     "",
		"_sip._tcpx.example.com.":        "",
		"_ldap._tcp.example.com.":        "",
	} {
		got := ""
		if s := cfg.match(name); s != nil {
			got = s.Label
		}
		if got != want {
			t.Errorf("match(%q) = %q, want %q", name, got, want)
		}
	}
}
