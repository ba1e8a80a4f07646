package srvhealth

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/srvhealth/srvhealth/health"
)

// fakeView is a health view with fixed answers, recording what was observed.
type fakeView struct {
	mu       sync.Mutex
	status   map[string]health.Status    // by target
	addrs    map[string]health.Addresses // by target
	observed []health.Key
}

func (v *fakeView) Addresses(target string) (health.Addresses, bool) {
	a, ok := v.addrs[target]
	return a, ok
}

func (v *fakeView) Check(k health.Key, domain string) (health.Status, bool) {
	v.mu.Lock()
	v.observed = append(v.observed, k)
	v.mu.Unlock()
	st, ok := v.status[k.Target]
	return st, ok
}

var (
	now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

	up     = health.Status{State: health.Up, Resolved: true, Up: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}
	down   = health.Status{State: health.Down, Resolved: true, Down: []netip.Addr{netip.MustParseAddr("192.0.2.2")}}
	cname  = health.Status{State: health.Up, Resolved: true, CNAME: true, Up: []netip.Addr{netip.MustParseAddr("192.0.2.3")}}
	noAddr = health.Status{State: health.Unknown, Resolved: true, NoAddress: true}

	// allDown has every target of sipAnswer down.
	allDown = map[string]health.Status{"sip1.example.com.": down, "sip2.example.com.": down, "standby.example.com.": down}
)

// sipZone is the upstream answer for _sip._tcp.example.com: a 70/30 primary pair, a priority-20 standby,
// and the targets' addresses in the additional section, as the file plugin sends them.
func sipAnswer(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Answer = []dns.RR{
		test.SRV("_sip._tcp.example.com. 300 IN SRV 10 70 5060 sip1.example.com."),
		test.SRV("_sip._tcp.example.com. 300 IN SRV 10 30 5060 sip2.example.com."),
		test.SRV("_sip._tcp.example.com. 300 IN SRV 20 0 5060 standby.example.com."),
	}
	m.Extra = []dns.RR{
		test.A("sip1.example.com. 300 IN A 192.0.2.1"),
		test.A("sip2.example.com. 300 IN A 192.0.2.2"),
		test.A("standby.example.com. 300 IN A 192.0.2.9"),
		test.A("ns.example.com. 300 IN A 192.0.2.53"),
	}
	return m
}

// bareSIPAnswer is sipAnswer without the additional section, as a backend that sends no glue answers.
func bareSIPAnswer(r *dns.Msg) *dns.Msg {
	m := sipAnswer(r)
	m.Extra = nil
	return m
}

// upstream returns a next plugin that answers every query with answer(r).
func upstream(answer func(r *dns.Msg) *dns.Msg) test.Handler {
	return test.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := answer(r)
		w.WriteMsg(m)
		return m.Rcode, nil
	})
}

func newTestHandler(t *testing.T, corefile string, view View, next test.Handler) *Handler {
	t.Helper()
	cfg := mustParse(t, corefile)
	return &Handler{Next: next, cfg: cfg, view: view, intn: rand.New(rand.NewPCG(1, 2)).IntN, now: func() time.Time { return now }}
}

func serve(t *testing.T, h *Handler, name string, qtype uint16, do bool) *dns.Msg {
	t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	if do {
		req.SetEdns0(4096, true)
	}
	return serveReq(t, h, req)
}

func serveReq(t *testing.T, h *Handler, req *dns.Msg) *dns.Msg {
	t.Helper()
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := h.ServeDNS(context.Background(), rec, req); err != nil {
		t.Fatalf("ServeDNS: %v", err)
	}
	if rec.Msg == nil {
		t.Fatal("no reply written")
	}
	if rec.Msg.Id != req.Id || len(rec.Msg.Question) != 1 || rec.Msg.Question[0] != req.Question[0] {
		t.Fatalf("reply does not answer the question: %v", rec.Msg)
	}
	return rec.Msg
}

func targets(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, s.Target)
		}
	}
	return out
}

func extraNames(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeA || rr.Header().Rrtype == dns.TypeAAAA {
			out = append(out, rr.Header().Name+" "+strings.Fields(rr.String())[4])
		}
	}
	slices.Sort(out)
	return out
}

func TestDrop(t *testing.T) {
	tests := []struct {
		name      string
		block     string
		status    map[string]health.Status
		want      []string // targets, sorted
		wantExtra []string
	}{
		{
			name:      "all up",
			status:    map[string]health.Status{"sip1.example.com.": up, "sip2.example.com.": up, "standby.example.com.": up},
			want:      []string{"sip1.example.com.", "sip2.example.com.", "standby.example.com."},
			wantExtra: []string{"ns.example.com. 192.0.2.53", "sip1.example.com. 192.0.2.1", "sip2.example.com. 192.0.2.2", "standby.example.com. 192.0.2.9"},
		},
		{
			name:      "unknown targets count as up",
			status:    map[string]health.Status{},
			want:      []string{"sip1.example.com.", "sip2.example.com.", "standby.example.com."},
			wantExtra: []string{"ns.example.com. 192.0.2.53", "sip1.example.com. 192.0.2.1", "sip2.example.com. 192.0.2.2", "standby.example.com. 192.0.2.9"},
		},
		{
			name:      "down target dropped with its address",
			status:    map[string]health.Status{"sip1.example.com.": up, "sip2.example.com.": down},
			want:      []string{"sip1.example.com.", "standby.example.com."},
			wantExtra: []string{"ns.example.com. 192.0.2.53", "sip1.example.com. 192.0.2.1", "standby.example.com. 192.0.2.9"},
		},
		{
			name:      "cname target dropped",
			status:    map[string]health.Status{"sip1.example.com.": cname},
			want:      []string{"sip2.example.com.", "standby.example.com."},
			wantExtra: []string{"ns.example.com. 192.0.2.53", "sip2.example.com. 192.0.2.2", "standby.example.com. 192.0.2.9"},
		},
		{
			name:   "cname keep",
			block:  "cname keep",
			status: map[string]health.Status{"sip1.example.com.": cname},
			want:   []string{"sip1.example.com.", "sip2.example.com.", "standby.example.com."},
			wantExtra: []string{"ns.example.com. 192.0.2.53", "sip1.example.com. 192.0.2.1", "sip2.example.com. 192.0.2.2",
				"standby.example.com. 192.0.2.9"},
		},
		{
			name:      "no-address target dropped",
			status:    map[string]health.Status{"standby.example.com.": noAddr},
			want:      []string{"sip1.example.com.", "sip2.example.com."},
			wantExtra: []string{"ns.example.com. 192.0.2.53", "sip1.example.com. 192.0.2.1", "sip2.example.com. 192.0.2.2"},
		},
		{
			name:   "no_address keep",
			block:  "no_address keep",
			status: map[string]health.Status{"standby.example.com.": noAddr},
			want:   []string{"sip1.example.com.", "sip2.example.com.", "standby.example.com."},
			wantExtra: []string{"ns.example.com. 192.0.2.53", "sip1.example.com. 192.0.2.1", "sip2.example.com. 192.0.2.2",
				"standby.example.com. 192.0.2.9"},
		},
		{
			name:      "priority 20 kept when priority 10 is all down",
			status:    map[string]health.Status{"sip1.example.com.": down, "sip2.example.com.": down, "standby.example.com.": up},
			want:      []string{"standby.example.com."},
			wantExtra: []string{"ns.example.com. 192.0.2.53", "standby.example.com. 192.0.2.9"},
		},
		{
			name: "down address removed, up address of a kept target stays",
			status: map[string]health.Status{"sip1.example.com.": {State: health.Up, Resolved: true,
				Down: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, Up: []netip.Addr{netip.MustParseAddr("192.0.2.11")}}},
			want:      []string{"sip1.example.com.", "sip2.example.com.", "standby.example.com."},
			wantExtra: []string{"ns.example.com. 192.0.2.53", "sip1.example.com. 192.0.2.11", "sip2.example.com. 192.0.2.2", "standby.example.com. 192.0.2.9"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler(t, "srvhealth example.com {\n"+tc.block+"\n}", &fakeView{status: tc.status}, upstream(sipAnswer))
			m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
			got := targets(m)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("targets = %v, want %v", got, tc.want)
			}
			if e := extraNames(m); !slices.Equal(e, tc.wantExtra) {
				t.Errorf("additional = %v, want %v", e, tc.wantExtra)
			}
			if m.Rcode != dns.RcodeSuccess || !m.Authoritative {
				t.Errorf("rcode %d aa %v, want NOERROR and aa kept", m.Rcode, m.Authoritative)
			}
		})
	}
}

func TestAddsKnownAddressesWhenBackendSentNone(t *testing.T) {
	st := map[string]health.Status{"sip1.example.com.": {State: health.Up, Resolved: true,
		Up: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}}}
	h := newTestHandler(t, "srvhealth example.com", &fakeView{status: st}, upstream(bareSIPAnswer))
	m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
	want := []string{"sip1.example.com. 192.0.2.1", "sip1.example.com. 2001:db8::1"}
	if e := extraNames(m); !slices.Equal(e, want) {
		t.Errorf("additional = %v, want %v", e, want)
	}
}

func TestAllDownPolicies(t *testing.T) {
	tests := []struct {
		block     string
		rcode     int
		want      []string
		wantExtra []string
	}{
		{"", dns.RcodeSuccess, []string{"sip1.example.com.", "sip2.example.com.", "standby.example.com."},
			[]string{"ns.example.com. 192.0.2.53", "sip1.example.com. 192.0.2.1", "sip2.example.com. 192.0.2.2", "standby.example.com. 192.0.2.9"}},
		{"all_down serve_all", dns.RcodeSuccess, []string{"sip1.example.com.", "sip2.example.com.", "standby.example.com."},
			[]string{"ns.example.com. 192.0.2.53", "sip1.example.com. 192.0.2.1", "sip2.example.com. 192.0.2.2", "standby.example.com. 192.0.2.9"}},
		{"all_down nodata", dns.RcodeSuccess, nil, nil},
		{"all_down servfail", dns.RcodeServerFailure, nil, nil},
		{"all_down unavailable", dns.RcodeSuccess, []string{"."}, []string{"ns.example.com. 192.0.2.53"}},
		{"all_down _sip._tcp unavailable\nall_down nodata", dns.RcodeSuccess, []string{"."}, []string{"ns.example.com. 192.0.2.53"}},
		{"all_down _sip._udp unavailable", dns.RcodeSuccess, []string{"sip1.example.com.", "sip2.example.com.", "standby.example.com."},
			[]string{"ns.example.com. 192.0.2.53", "sip1.example.com. 192.0.2.1", "sip2.example.com. 192.0.2.2", "standby.example.com. 192.0.2.9"}},
	}
	for _, tc := range tests {
		t.Run(tc.block, func(t *testing.T) {
			h := newTestHandler(t, "srvhealth example.com {\n"+tc.block+"\n}", &fakeView{status: allDown}, upstream(sipAnswer))
			m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
			got := targets(m)
			slices.Sort(got)
			if m.Rcode != tc.rcode || !slices.Equal(got, tc.want) {
				t.Errorf("rcode %s targets %v, want %s %v", dns.RcodeToString[m.Rcode], got, dns.RcodeToString[tc.rcode], tc.want)
			}
			if e := extraNames(m); !slices.Equal(e, tc.wantExtra) {
				t.Errorf("additional = %v, want %v", e, tc.wantExtra)
			}
			if tc.want != nil && tc.want[0] == "." {
				s := m.Answer[0].(*dns.SRV)
				if len(m.Answer) != 1 || s.Hdr.Name != "_sip._tcp.example.com." || s.Priority != 0 || s.Weight != 0 || s.Port != 0 {
					t.Errorf("unavailable answer = %v, want the single RFC 2782 '0 0 0 .' record", m.Answer)
				}
			}
		})
	}
}

func TestServeAllSkipsCNAMEWhenOthersAreOnlyDown(t *testing.T) {
	st := map[string]health.Status{"sip1.example.com.": cname, "sip2.example.com.": down, "standby.example.com.": noAddr}
	h := newTestHandler(t, "srvhealth example.com", &fakeView{status: st}, upstream(sipAnswer))
	m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
	if got := targets(m); !slices.Equal(got, []string{"sip2.example.com."}) {
		t.Errorf("targets = %v, want only the down-but-valid sip2", got)
	}
}

func TestTTL(t *testing.T) {
	soon := up
	soon.Until = now.Add(12 * time.Second)
	verySoon := up
	verySoon.Until = now.Add(1 * time.Second)
	tests := []struct {
		name   string
		block  string
		status health.Status
		want   uint32
	}{
		{"max_ttl default caps 300", "", up, 30},
		{"max_ttl set", "max_ttl 20s", up, 20},
		{"health-aware: time to the next possible flip", "", soon, 12},
		{"health-aware floor is min_ttl", "", verySoon, 5},
		{"min_ttl set", "min_ttl 2s", verySoon, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := map[string]health.Status{"sip1.example.com.": tc.status}
			h := newTestHandler(t, "srvhealth example.com {\n"+tc.block+"\n}", &fakeView{status: st}, upstream(sipAnswer))
			m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
			for _, rr := range append(m.Answer, m.Extra...) {
				if rr.Header().Name == "ns.example.com." {
					if rr.Header().Ttl != 300 {
						t.Errorf("TTL of glue of a name that is no SRV target changed to %d", rr.Header().Ttl)
					}
					continue
				}
				if rr.Header().Ttl != tc.want {
					t.Errorf("%s TTL %d, want %d", rr.Header().Name, rr.Header().Ttl, tc.want)
				}
			}
		})
	}
}

func TestTTLNeverRaised(t *testing.T) {
	low := func(r *dns.Msg) *dns.Msg {
		m := sipAnswer(r)
		for _, rr := range m.Answer {
			rr.Header().Ttl = 3
		}
		return m
	}
	h := newTestHandler(t, "srvhealth example.com", &fakeView{}, upstream(low))
	m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
	for _, rr := range m.Answer {
		if rr.Header().Ttl != 3 {
			t.Errorf("TTL %d, want the upstream's 3 kept", rr.Header().Ttl)
		}
	}
}

// TestUpstreamRecordsNotModified guards the zone: file hands out the records of its tree, so capping a
// TTL must copy the record.
func TestUpstreamRecordsNotModified(t *testing.T) {
	zone := sipAnswer(new(dns.Msg).SetQuestion("_sip._tcp.example.com.", dns.TypeSRV))
	shared := func(r *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = slices.Clone(zone.Answer)
		m.Extra = slices.Clone(zone.Extra)
		return m
	}
	h := newTestHandler(t, "srvhealth example.com", &fakeView{}, upstream(shared))
	serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
	for _, rr := range append(zone.Answer, zone.Extra...) {
		if rr.Header().Ttl != 300 {
			t.Fatalf("upstream record %s modified", rr)
		}
	}
}

func TestPassThrough(t *testing.T) {
	nx := func(r *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		m.Ns = []dns.RR{test.SOA("example.com. 300 IN SOA ns.example.com. admin.example.com. 1 7200 3600 1209600 3600")}
		return m
	}
	tc := func(r *dns.Msg) *dns.Msg {
		m := sipAnswer(r)
		m.Truncated = true
		return m
	}
	addr := func(r *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{test.A("sip2.example.com. 300 IN A 192.0.2.2")}
		return m
	}
	ldap := func(r *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{test.SRV("_ldap._tcp.example.com. 300 IN SRV 0 0 389 sip2.example.com.")}
		return m
	}
	noSRV := func(r *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Ns = []dns.RR{test.SOA("example.com. 300 IN SOA ns.example.com. admin.example.com. 1 7200 3600 1209600 3600")}
		return m
	}
	dot := func(r *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{test.SRV("_sip._tcp.example.com. 300 IN SRV 0 0 0 .")}
		return m
	}
	tests := []struct {
		name  string
		qname string
		qtype uint16
		next  func(*dns.Msg) *dns.Msg
	}{
		{"A query", "sip2.example.com.", dns.TypeA, addr},
		{"AAAA query", "sip2.example.com.", dns.TypeAAAA, addr},
		{"non-SIP SRV", "_ldap._tcp.example.com.", dns.TypeSRV, ldap},
		{"SRV outside the zones", "_sip._tcp.example.org.", dns.TypeSRV, sipAnswer},
		{"NXDOMAIN", "_sip._tcp.example.com.", dns.TypeSRV, nx},
		{"TC set", "_sip._tcp.example.com.", dns.TypeSRV, tc},
		{"no SRV in answer", "_sip._tcp.example.com.", dns.TypeSRV, noSRV},
		{"decidedly not available", "_sip._tcp.example.com.", dns.TypeSRV, dot},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := new(dns.Msg)
			req.SetQuestion(tc.qname, tc.qtype)
			want, _ := tc.next(req).Pack()

			h := newTestHandler(t, "srvhealth example.com {\nall_down servfail\n}", &fakeView{status: allDown}, upstream(tc.next))
			got, _ := serveReq(t, h, req).Pack()
			if string(got) != string(want) {
				t.Errorf("reply changed:\n got %x\nwant %x", got, want)
			}
		})
	}
}

// foreignAnswer has a target out of the probe scope (not under example.com) beside one in it.
func foreignAnswer(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Answer = []dns.RR{
		test.SRV("_sip._tcp.example.com. 300 IN SRV 10 50 5060 sip.provider.net."),
		test.SRV("_sip._tcp.example.com. 300 IN SRV 10 50 5060 sip1.example.com."),
	}
	return m
}

func TestOutOfScopeTargetServedUnfiltered(t *testing.T) {
	v := &fakeView{status: map[string]health.Status{"sip.provider.net.": down, "sip1.example.com.": down}}
	h := newTestHandler(t, "srvhealth example.com", v, upstream(foreignAnswer))
	m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
	if got := targets(m); !slices.Equal(got, []string{"sip.provider.net."}) {
		t.Errorf("targets = %v, want the out-of-scope target served and the in-scope down one dropped", got)
	}
	for _, k := range v.observed {
		if k.Target == "sip.provider.net." {
			t.Errorf("out-of-scope target registered for probing: %+v", k)
		}
	}
}

func TestMixedCaseQueryMatches(t *testing.T) {
	h := newTestHandler(t, "srvhealth example.com", &fakeView{status: map[string]health.Status{"sip1.example.com.": down}}, upstream(sipAnswer))
	m := serve(t, h, "_SIP._TCP.Example.COM.", dns.TypeSRV, false)
	if got := targets(m); slices.Contains(got, "sip1.example.com.") {
		t.Errorf("targets = %v: mixed-case query was not filtered", got)
	}
}

func TestDNSSECReorderOnly(t *testing.T) {
	signed := func(r *dns.Msg) *dns.Msg {
		m := sipAnswer(r)
		m.Answer = append(m.Answer, test.RRSIG("_sip._tcp.example.com. 300 IN RRSIG SRV 13 4 300 20261231000000 20261101000000 12345 example.com. c2lnbmF0dXJl"))
		return m
	}
	st := map[string]health.Status{"sip1.example.com.": down, "sip2.example.com.": down}

	h := newTestHandler(t, "srvhealth example.com", &fakeView{status: st}, upstream(signed))
	m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, true)
	got := targets(m)
	slices.Sort(got)
	if want := []string{"sip1.example.com.", "sip2.example.com.", "standby.example.com."}; !slices.Equal(got, want) {
		t.Errorf("DO query: targets %v, want all of %v (a subset of a signed RRset fails validation)", got, want)
	}
	if last := m.Answer[len(m.Answer)-1]; last.Header().Rrtype != dns.TypeRRSIG {
		t.Errorf("RRSIG lost or moved: %v", m.Answer)
	}
	for _, rr := range m.Answer {
		if rr.Header().Ttl != 30 {
			t.Errorf("DO query: TTL of %s is %d, want it capped to max_ttl 30 (a validator takes the lesser of it and the RRSIG's original TTL)", rr.Header().Name, rr.Header().Ttl)
		}
	}

	m = serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
	if got := targets(m); !slices.Equal(got, []string{"standby.example.com."}) {
		t.Errorf("non-DO query: targets %v, want only the standby", got)
	}
	for _, rr := range m.Answer {
		if rr.Header().Rrtype == dns.TypeRRSIG {
			t.Errorf("non-DO query kept an RRSIG that no longer covers the RRset: %v", rr)
		}
	}
}

func TestObservesTargetsWithTheirProbe(t *testing.T) {
	v := &fakeView{}
	h := newTestHandler(t, "srvhealth example.com", v, upstream(sipAnswer))
	serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
	if len(v.observed) != 3 {
		t.Fatalf("observed %v, want the 3 targets", v.observed)
	}
	for _, k := range v.observed {
		if k.Port != 5060 || k.Method.String() != "sip-tcp" {
			t.Errorf("observed %+v, want port 5060 probe sip-tcp", k)
		}
	}
}

func TestOrderWithinHandler(t *testing.T) {
	h := newTestHandler(t, "srvhealth example.com", &fakeView{}, upstream(sipAnswer))
	first := map[string]int{}
	for range 2000 {
		m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
		ts := targets(m)
		if ts[2] != "standby.example.com." {
			t.Fatalf("priority 20 record not last: %v", ts)
		}
		first[ts[0]]++
	}
	// 70/30 weights: sip1 first 70% of the time; 2,000 samples give a standard deviation of about 1%.
	if p := float64(first["sip1.example.com."]) / 2000; p < 0.65 || p > 0.75 {
		t.Errorf("sip1 first in %.3f of answers, want 0.70 ± 0.05", p)
	}
}

// zoneUpstream answers like file does for example.com: the SRV answer of sipAnswer with the apex NS in
// authority, and the SOA at the apex; it counts the SOA queries.
func zoneUpstream(soaQueries *int) test.Handler {
	return upstream(func(r *dns.Msg) *dns.Msg {
		if r.Question[0].Qtype == dns.TypeSOA {
			*soaQueries++
			m := new(dns.Msg)
			m.SetReply(r)
			m.Answer = []dns.RR{test.SOA("example.com. 3600 IN SOA ns.example.com. admin.example.com. 1 7200 3600 1209600 60")}
			return m
		}
		m := sipAnswer(r)
		m.Ns = []dns.RR{test.NS("example.com. 300 IN NS ns.example.com.")}
		return m
	})
}

// TestNoDataCarriesSOA checks the nodata answer against RFC 2308: the zone's SOA in authority, with the
// negative TTL no higher than the SOA minimum, min_ttl or the records' own TTL, no NS that would make it
// look like a referral, and the SOA asked of the chain once, not once per query.
func TestNoDataCarriesSOA(t *testing.T) {
	soaQueries := 0
	h := newTestHandler(t, "srvhealth example.com {\nall_down nodata\n}", &fakeView{status: allDown}, zoneUpstream(&soaQueries))
	for range 3 {
		m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
			t.Fatalf("rcode %s answer %v, want NOERROR and no records", dns.RcodeToString[m.Rcode], m.Answer)
		}
		if len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA || m.Ns[0].Header().Name != "example.com." {
			t.Fatalf("authority = %v, want the zone's SOA alone", m.Ns)
		}
		if ttl := m.Ns[0].Header().Ttl; ttl != 5 {
			t.Errorf("SOA TTL %d, want 5 (min_ttl, below the SOA's 3600 and minimum 60)", ttl)
		}
		if len(m.Extra) != 0 {
			t.Errorf("additional = %v, want nothing (no NS, so no glue)", m.Extra)
		}
	}
	if soaQueries != 1 {
		t.Errorf("SOA asked %d times for 3 answers, want once", soaQueries)
	}
}

func TestNoDataSOAWithLowMinimum(t *testing.T) {
	low := upstream(func(r *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Question[0].Qtype == dns.TypeSOA {
			m.Ns = []dns.RR{test.SOA("example.com. 3600 IN SOA ns.example.com. admin.example.com. 1 7200 3600 1209600 2")}
			return m
		}
		return sipAnswer(r)
	})
	h := newTestHandler(t, "srvhealth example.com {\nall_down nodata\n}", &fakeView{status: allDown}, low)
	m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
	if len(m.Ns) != 1 || m.Ns[0].Header().Ttl != 2 {
		t.Errorf("authority = %v, want the SOA from a negative reply, with TTL 2 (its minimum)", m.Ns)
	}
}

// TestADClearedWhenChanged: AD says the answer is what the upstream validated (RFC 4035 §3.2.3); it stays
// on a reordered answer and goes from one srvhealth changed.
func TestADClearedWhenChanged(t *testing.T) {
	ad := func(r *dns.Msg) *dns.Msg {
		m := sipAnswer(r)
		m.AuthenticatedData = true
		return m
	}
	tests := []struct {
		name   string
		block  string
		status map[string]health.Status
		wantAD bool
	}{
		{"all up: reordered only", "", nil, true},
		{"one dropped", "", map[string]health.Status{"sip1.example.com.": down}, false},
		{"all down, serve_all serves them all", "", allDown, true},
		{"all down, unavailable", "all_down unavailable", allDown, false},
		{"all down, nodata", "all_down nodata", allDown, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler(t, "srvhealth example.com {\n"+tc.block+"\n}", &fakeView{status: tc.status}, upstream(ad))
			m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
			if m.AuthenticatedData != tc.wantAD {
				t.Errorf("AD = %v, want %v (answer %v)", m.AuthenticatedData, tc.wantAD, m.Answer)
			}
		})
	}
}

// TestUnavailableTTLNeverRaised: the made-up "." record never lives longer than the records it replaces.
func TestUnavailableTTLNeverRaised(t *testing.T) {
	short := func(r *dns.Msg) *dns.Msg {
		m := sipAnswer(r)
		for _, rr := range m.Answer {
			rr.Header().Ttl = 2
		}
		return m
	}
	h := newTestHandler(t, "srvhealth example.com {\nall_down unavailable\n}", &fakeView{status: allDown}, upstream(short))
	m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
	if len(m.Answer) != 1 || m.Answer[0].Header().Ttl != 2 {
		t.Errorf("answer %v, want the '.' record with the upstream's TTL 2, not min_ttl 5", m.Answer)
	}
}

// TestNoAddressesInventedForCNAME: a CNAME target that is served (cname keep) gets no address records at
// its own name; the addresses the monitor knows belong to the name the alias points to.
func TestNoAddressesInventedForCNAME(t *testing.T) {
	st := map[string]health.Status{"sip1.example.com.": cname, "sip2.example.com.": up}
	h := newTestHandler(t, "srvhealth example.com {\ncname keep\n}", &fakeView{status: st}, upstream(bareSIPAnswer))
	m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
	if got := targets(m); !slices.Contains(got, "sip1.example.com.") {
		t.Fatalf("targets %v, want the CNAME target kept", got)
	}
	if e := extraNames(m); !slices.Equal(e, []string{"sip2.example.com. 192.0.2.1"}) {
		t.Errorf("additional = %v, want only sip2's known address, nothing at the alias sip1", e)
	}
}

// TestDrain: a drained target leaves the answers while another live target remains, is the live fallback
// when none does (rather than the all-down policy), and is never served for being drained while down.
func TestDrain(t *testing.T) {
	tests := []struct {
		name   string
		block  string
		status map[string]health.Status
		want   []string // targets, sorted
	}{
		{"drained target out", "drain sip1.example.com", nil, []string{"sip2.example.com.", "standby.example.com."}},
		{"port must match", "drain sip1.example.com:5061", nil, []string{"sip1.example.com.", "sip2.example.com.", "standby.example.com."}},
		{"drained on its port", "drain sip1.example.com:5060 standby.example.com", nil, []string{"sip2.example.com."}},
		{"drained live target is the fallback", "drain sip1.example.com\nall_down nodata",
			map[string]health.Status{"sip2.example.com.": down, "standby.example.com.": down}, []string{"sip1.example.com."}},
		{"drained dead target is not", "drain sip1.example.com\nall_down nodata",
			map[string]health.Status{"sip1.example.com.": down, "sip2.example.com.": down, "standby.example.com.": down}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler(t, "srvhealth example.com {\n"+tc.block+"\n}", &fakeView{status: tc.status}, upstream(sipAnswer))
			got := targets(serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false))
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("targets %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDrainOutOfScope: a drain holds for a target that is never probed.
func TestDrainOutOfScope(t *testing.T) {
	h := newTestHandler(t, "srvhealth example.com {\ndrain sip.provider.net\n}", &fakeView{}, upstream(foreignAnswer))
	if got := targets(serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)); !slices.Equal(got, []string{"sip1.example.com."}) {
		t.Errorf("targets %v, want the drained out-of-scope target gone", got)
	}
}

// TestAddedGlueTTLNeverRaised: an address srvhealth adds to the additional section lives no longer than
// the address record it was resolved from.
func TestAddedGlueTTLNeverRaised(t *testing.T) {
	st := map[string]health.Status{"sip1.example.com.": {State: health.Up, Resolved: true, AddrTTL: 3,
		Up: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}}
	h := newTestHandler(t, "srvhealth example.com", &fakeView{status: st}, upstream(bareSIPAnswer))
	m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
	if len(m.Extra) != 1 || m.Extra[0].Header().Ttl != 3 {
		t.Errorf("additional %v, want sip1's address with its own TTL 3, not the answer's 30", m.Extra)
	}
}

// TestTTLOfUnprobedTarget: the first answer for targets the monitor has only just registered must not
// carry max_ttl. Until its first probe round a target counts as up, and that round may find it dead: a
// resolver caching the answer for max_ttl would keep handing out a dead target. The monitor here is a real
// one, not started, so its targets stay as the query registered them.
func TestTTLOfUnprobedTarget(t *testing.T) {
	h, err := newHandler(mustParse(t, "srvhealth unprobed.test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.monitor.Stop)
	h.Next = upstream(func(r *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{test.SRV("_sip._tcp.unprobed.test. 300 IN SRV 10 10 5060 sip1.unprobed.test.")}
		return m
	})
	for i := range 2 {
		m := serve(t, h, "_sip._tcp.unprobed.test.", dns.TypeSRV, false)
		if len(m.Answer) != 1 {
			t.Fatalf("answer %v, want the one record (unprobed counts as up)", m.Answer)
		}
		if ttl := m.Answer[0].Header().Ttl; ttl != 5 {
			t.Errorf("answer %d: TTL %d, want min_ttl 5 while the target has not been probed", i, ttl)
		}
	}
}

// TestMinimalRespected: with minimal in the block, the answers leave without an additional section, and
// srvhealth, which sees them after minimal, must not put the targets' addresses back.
func TestMinimalRespected(t *testing.T) {
	st := map[string]health.Status{
		"sip1.example.com.":    {State: health.Up, Resolved: true, Up: addrList("192.0.2.1"), Down: addrList("2001:db8::1")},
		"sip2.example.com.":    up,
		"standby.example.com.": {State: health.Up, Resolved: true, Up: addrList("192.0.2.9")},
	}
	s, _ := blockServer(t, "srvhealth example.com", &fakeView{status: st},
		&named{name: "minimal", strip: true}, &named{name: "file", answer: backend})
	m := ask(t, s, "10.0.0.1", "_sip._tcp.example.com.", dns.TypeSRV, dns.ClassINET)
	if len(targets(m)) != 3 {
		t.Fatalf("targets %v, want the three", targets(m))
	}
	if len(m.Extra) != 0 {
		t.Errorf("additional %v, want none: minimal is in the block", m.Extra)
	}
}

// TestNoDataThroughCNAMETakesTheTargetZoneSOA: when the SRV owner is an alias, the SRV records and so the
// NODATA srvhealth makes are for the name the CNAME leads to; RFC 2308 §2.2 puts the SOA of that name's
// zone in the authority section (the answer keeps the CNAME), not the SOA of the zone of the alias.
func TestNoDataThroughCNAMETakesTheTargetZoneSOA(t *testing.T) {
	next := upstream(func(r *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch {
		case q.Qtype == dns.TypeSOA && strings.HasSuffix(q.Name, "example.net."):
			m.Answer = []dns.RR{test.SOA("example.net. 3600 IN SOA ns.example.net. admin.example.net. 1 7200 3600 1209600 60")}
		case q.Qtype == dns.TypeSOA:
			m.Answer = []dns.RR{test.SOA("example.com. 3600 IN SOA ns.example.com. admin.example.com. 1 7200 3600 1209600 60")}
		case q.Qtype == dns.TypeSRV:
			m.Answer = []dns.RR{
				test.CNAME("_sip._tcp.example.com. 300 IN CNAME _sip._tcp.example.net."),
				test.SRV("_sip._tcp.example.net. 300 IN SRV 10 10 5060 sip1.example.com."),
			}
		}
		return m
	})
	h := newTestHandler(t, "srvhealth example.com {\nall_down nodata\n}", &fakeView{status: allDown}, next)
	m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
	if len(m.Answer) != 1 || m.Answer[0].Header().Rrtype != dns.TypeCNAME {
		t.Fatalf("answer %v, want the CNAME alone", m.Answer)
	}
	if len(m.Ns) != 1 || m.Ns[0].Header().Name != "example.net." {
		t.Errorf("authority %v, want the SOA of example.net, the zone the CNAME leads to", m.Ns)
	}
}

// TestShadow: with shadow, every answer goes out byte for byte as the next plugin wrote it, whatever the
// targets' health and the all-down policy, while dropped_total and all_down_total count what srvhealth
// would have done (issue 22).
func TestShadow(t *testing.T) {
	for _, tc := range []struct {
		name    string
		block   string
		status  map[string]health.Status
		qtype   uint16
		qname   string
		next    func(*dns.Msg) *dns.Msg
		dropped float64 // dropped_total{reason="down"} growth
		allDown float64
	}{
		{"one down", "", map[string]health.Status{"sip1.example.com.": up, "sip2.example.com.": down}, dns.TypeSRV, "_sip._tcp.example.com.", sipAnswer, 1, 0},
		{"all down, servfail", "all_down servfail", allDown, dns.TypeSRV, "_sip._tcp.example.com.", sipAnswer, 3, 1},
		{"all down, unavailable", "all_down unavailable", allDown, dns.TypeSRV, "_sip._tcp.example.com.", sipAnswer, 3, 1},
		{"no glue: none added", "", map[string]health.Status{"sip1.example.com.": up}, dns.TypeSRV, "_sip._tcp.example.com.", bareSIPAnswer, 0, 0},
		{"dead address", "filter_addresses", nil, dns.TypeAAAA, "sip1.example.com.", dualStack, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &fakeView{status: tc.status, addrs: map[string]health.Addresses{"sip1.example.com.": sip1v6Dead}}
			h := newTestHandler(t, "srvhealth example.com {\nshadow\n"+tc.block+"\n}", v, upstream(tc.next))
			server := metrics.WithServer(context.Background())
			dropped0 := testutil.ToFloat64(droppedCount.WithLabelValues(server, "down"))
			allDown0 := testutil.ToFloat64(allDownCount.WithLabelValues(server, "_sip._tcp", h.cfg.Services[1].AllDown.String()))

			req := new(dns.Msg).SetQuestion(tc.qname, tc.qtype)
			got, err := serveReq(t, h, req).Pack()
			if err != nil {
				t.Fatal(err)
			}
			want, err := tc.next(req).Pack()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("shadow changed the answer:\n got %x\nwant %x", got, want)
			}
			if d := testutil.ToFloat64(droppedCount.WithLabelValues(server, "down")) - dropped0; d != tc.dropped {
				t.Errorf("dropped_total{reason=down} grew by %v, want %v", d, tc.dropped)
			}
			if d := testutil.ToFloat64(allDownCount.WithLabelValues(server, "_sip._tcp", h.cfg.Services[1].AllDown.String())) - allDown0; d != tc.allDown {
				t.Errorf("all_down_total grew by %v, want %v", d, tc.allDown)
			}
		})
	}
}
