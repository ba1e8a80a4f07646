package policy

import (
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

var (
	up     = health.Status{State: health.Up, Resolved: true}
	down   = health.Status{State: health.Down, Resolved: true}
	cname  = health.Status{State: health.Up, Resolved: true, CNAME: true}
	noAddr = health.Status{Resolved: true, NoAddress: true}
)

func TestHealth(t *testing.T) {
	drop := &Rules{DropCNAME: true, DropNoAddr: true}
	keep := &Rules{}
	for _, tc := range []struct {
		name  string
		st    health.Status
		known bool
		rules *Rules
		want  Reason
	}{
		{"not monitored", down, false, drop, Keep},
		{"unknown, not probed yet", health.Status{}, true, drop, Keep},
		{"up", up, true, drop, Keep},
		{"down", down, true, drop, DropDown},
		{"cname", cname, true, drop, DropCNAME},
		{"cname kept", cname, true, keep, Keep},
		{"no address", noAddr, true, drop, DropNoAddress},
		{"no address kept", noAddr, true, keep, Keep},
		{"cname before down", health.Status{State: health.Down, Resolved: true, CNAME: true}, true, drop, DropCNAME},
		{"cname flag before resolution counts for nothing", health.Status{CNAME: true}, true, drop, Keep},
	} {
		if got := tc.rules.Health(tc.st, tc.known); got != tc.want {
			t.Errorf("%s: Health = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestSelect(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reasons []Reason
		policy  AllDown
		served  []bool
		allDown bool
	}{
		{"keeps the live", []Reason{Keep, DropDown, DropCNAME}, NoData, []bool{true, false, false}, false},
		{"drained live is the fallback", []Reason{DropDrained, DropDown}, NoData, []bool{true, false}, false},
		{"drained stays out while one lives", []Reason{DropDrained, Keep}, ServeAll, []bool{false, true}, false},
		{"all down, serve_all serves the down", []Reason{DropDown, DropCNAME, DropDown}, ServeAll, []bool{true, false, true}, true},
		{"all broken, serve_all serves all", []Reason{DropCNAME, DropNoAddress}, ServeAll, []bool{true, true}, true},
		{"all down, nodata serves none", []Reason{DropDown, DropDown}, NoData, []bool{false, false}, true},
	} {
		served := make([]bool, len(tc.reasons))
		allDown := Select(len(tc.reasons), func(i int) Reason { return tc.reasons[i] }, func(i int) { served[i] = true }, tc.policy)
		if allDown != tc.allDown || !slices.Equal(served, tc.served) {
			t.Errorf("%s: served %v all-down %v, want %v %v", tc.name, served, allDown, tc.served, tc.allDown)
		}
	}
}

// TestVerdict: a drain holds for any target, known or not, and never hides a target that is down.
func TestVerdict(t *testing.T) {
	r := &Rules{DropCNAME: true, DropNoAddr: true, Drains: []Drain{{Target: "all.example.com."}, {Target: "one.example.com.", Port: 5061}}}
	for _, tc := range []struct {
		name   string
		st     health.Status
		known  bool
		target string
		port   uint16
		want   Reason
	}{
		{"drained on every port", up, true, "all.example.com.", 5060, DropDrained},
		{"drained, not monitored", health.Status{}, false, "all.example.com.", 5060, DropDrained},
		{"drained on its port", up, true, "one.example.com.", 5061, DropDrained},
		{"not drained on another port", up, true, "one.example.com.", 5060, Keep},
		{"drained and down is down", down, true, "all.example.com.", 5060, DropDown},
		{"not drained", up, true, "other.example.com.", 5060, Keep},
	} {
		if got := r.Verdict(tc.st, tc.known, tc.target, tc.port); got != tc.want {
			t.Errorf("%s: Verdict = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestServe: what sync writes for an RRset: the served records in their order; under unavailable with
// every target down, the lone "." record with the lowest TTL; under nodata and servfail, nothing.
func TestServe(t *testing.T) {
	srv := func(target string, ttl uint32) *dns.SRV {
		return &dns.SRV{Hdr: dns.RR_Header{Name: "_sip._tcp.example.com.", Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: ttl}, Port: 5060, Target: target}
	}
	a, b, c := srv("a.example.com.", 300), srv("b.example.com.", 60), srv("c.example.com.", 120)
	srvs := []*dns.SRV{a, b, c}
	if got, all := Serve(srvs, []Reason{Keep, DropDown, Keep}, ServeAll); all || !slices.Equal(got, []*dns.SRV{a, c}) {
		t.Errorf("one down: %v %v", got, all)
	}
	if got, all := Serve(srvs, []Reason{DropDown, DropDown, DropCNAME}, ServeAll); !all || !slices.Equal(got, []*dns.SRV{a, b}) {
		t.Errorf("all down, serve_all: %v %v", got, all)
	}
	got, all := Serve(srvs, []Reason{DropDown, DropDown, DropDown}, Unavailable)
	if !all || len(got) != 1 || got[0].Target != "." || got[0].Hdr.Ttl != 60 || got[0].Hdr.Name != a.Hdr.Name {
		t.Errorf("all down, unavailable: %v %v", got, all)
	}
	for _, p := range []AllDown{NoData, ServFail} {
		if got, all := Serve(srvs, []Reason{DropDown, DropDown, DropDown}, p); !all || len(got) != 0 {
			t.Errorf("all down, %s: %v %v", p, got, all)
		}
	}
}

func TestParseAllDown(t *testing.T) {
	for _, p := range []AllDown{ServeAll, NoData, ServFail, Unavailable} {
		if got, ok := ParseAllDown(p.String()); !ok || got != p {
			t.Errorf("%s: %v %v", p, got, ok)
		}
	}
	if _, ok := ParseAllDown("drop"); ok {
		t.Error("drop parsed as a policy")
	}
}
