package srvhealth

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

// naptrZone answers like a SIP provider's zone: three transports by NAPTR, each an SRV name with its own
// target, and the targets' addresses.
func naptrZone(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	switch q := r.Question[0]; {
	case q.Qtype == dns.TypeNAPTR && q.Name == "example.com.":
		m.Answer = []dns.RR{
			test.NAPTR(`example.com. 5 IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp.example.com.`),
			test.NAPTR(`example.com. 5 IN NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp.example.com.`),
			test.NAPTR(`example.com. 5 IN NAPTR 30 50 "s" "SIP+D2U" "" _sip._udp.example.com.`),
		}
		m.Extra = []dns.RR{test.SRV("_sips._tcp.example.com. 5 IN SRV 0 0 5061 tls.example.com.")}
	case q.Qtype == dns.TypeSRV && q.Name == "_sips._tcp.example.com.":
		m.Answer = []dns.RR{test.SRV("_sips._tcp.example.com. 300 IN SRV 0 0 5061 tls.example.com.")}
	case q.Qtype == dns.TypeSRV && q.Name == "_sip._tcp.example.com.":
		m.Answer = []dns.RR{test.SRV("_sip._tcp.example.com. 300 IN SRV 0 0 5060 tcp.example.com.")}
	case q.Qtype == dns.TypeSRV && q.Name == "_sip._udp.example.com.":
		m.Answer = []dns.RR{test.SRV("_sip._udp.example.com. 300 IN SRV 0 0 5060 udp.example.com.")}
	default:
		m.Rcode = dns.RcodeNameError
	}
	return m
}

func naptrServices(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if n, ok := rr.(*dns.NAPTR); ok {
			out = append(out, n.Service)
		}
	}
	return out
}

// naptrAfterResolution asks until the background resolutions of want SRV names have stored their targets
// (or 5 s pass) and returns the answer asked after that.
func naptrAfterResolution(t *testing.T, h *Handler, want int) *dns.Msg {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for resolvedSets(h) < want && time.Now().Before(deadline) {
		serve(t, h, "example.com.", dns.TypeNAPTR, false)
		time.Sleep(10 * time.Millisecond)
	}
	return serve(t, h, "example.com.", dns.TypeNAPTR, false)
}

// resolvedSets is the number of SRV names behind NAPTR records whose resolution has stored their targets.
func resolvedSets(h *Handler) int {
	n := 0
	h.services.m.Range(func(_, v any) bool {
		if v.(*srvSet).keys.Load() != nil {
			n++
		}
		return true
	})
	return n
}

// gated returns answer behind a gate for SRV queries: the background resolutions wait until open is
// called, so that the answers before that are deterministically those before resolution.
func gated(answer func(*dns.Msg) *dns.Msg) (next test.Handler, open func()) {
	gate := make(chan struct{})
	var once sync.Once
	return upstream(func(r *dns.Msg) *dns.Msg {
		if r.Question[0].Qtype == dns.TypeSRV {
			<-gate
		}
		return answer(r)
	}), func() { once.Do(func() { close(gate) }) }
}

func TestNAPTRDropsDeadTransport(t *testing.T) {
	v := &fakeView{status: map[string]health.Status{"tls.example.com.": down, "tcp.example.com.": up, "udp.example.com.": up}}
	next, open := gated(naptrZone)
	h := newTestHandler(t, "srvhealth example.com", v, next)
	t.Cleanup(h.services.close)
	t.Cleanup(open)

	first := serve(t, h, "example.com.", dns.TypeNAPTR, false)
	if got := naptrServices(first); len(got) != 3 {
		t.Errorf("before the SRV names are resolved: %v, want all three (unknown counts as up)", got)
	}
	open()
	m := naptrAfterResolution(t, h, 3)
	if got := naptrServices(m); !slices.Equal(got, []string{"SIP+D2T", "SIP+D2U"}) {
		t.Fatalf("NAPTR services %v, want the TLS one dropped", got)
	}
	for _, rr := range m.Answer {
		if n := rr.(*dns.NAPTR); n.Order == 10 {
			t.Errorf("order fields changed: %v", m.Answer)
		}
	}
	if len(m.Extra) != 0 {
		t.Errorf("additional %v, want the dropped replacement's SRV gone", m.Extra)
	}
}

func TestNAPTRAllAliveUnchanged(t *testing.T) {
	v := &fakeView{status: map[string]health.Status{"tls.example.com.": up, "tcp.example.com.": up, "udp.example.com.": up}}
	h := newTestHandler(t, "srvhealth example.com", v, upstream(naptrZone))
	t.Cleanup(h.services.close)
	req := new(dns.Msg).SetQuestion("example.com.", dns.TypeNAPTR)
	want, _ := naptrZone(req).Pack()
	naptrAfterResolution(t, h, 3)
	got, _ := serveReq(t, h, req).Pack()
	if string(got) != string(want) {
		t.Errorf("answer changed with every transport alive:\n got %x\nwant %x", got, want)
	}
}

func TestNAPTREveryTransportDeadPassesThrough(t *testing.T) {
	v := &fakeView{status: map[string]health.Status{"tls.example.com.": down, "tcp.example.com.": down, "udp.example.com.": down}}
	h := newTestHandler(t, "srvhealth example.com", v, upstream(naptrZone))
	t.Cleanup(h.services.close)
	m := naptrAfterResolution(t, h, 3)
	if got := naptrServices(m); len(got) != 3 {
		t.Errorf("NAPTR services %v, want all three when every one is down", got)
	}
}

func TestNAPTRSignedLeftWhole(t *testing.T) {
	signed := func(r *dns.Msg) *dns.Msg {
		m := naptrZone(r)
		if r.Question[0].Qtype == dns.TypeNAPTR {
			m.Answer = append(m.Answer, test.RRSIG("example.com. 5 IN RRSIG NAPTR 13 2 5 20261231000000 20261101000000 12345 example.com. c2lnbmF0dXJl"))
		}
		return m
	}
	v := &fakeView{status: map[string]health.Status{"tls.example.com.": down}}
	h := newTestHandler(t, "srvhealth example.com", v, upstream(signed))
	t.Cleanup(h.services.close)
	naptrAfterResolution(t, h, 0)
	h.services.get(h, "_sips._tcp.example.com.", h.cfg.match("_sips._tcp.example.com."))
	if m := serve(t, h, "example.com.", dns.TypeNAPTR, true); len(naptrServices(m)) != 3 {
		t.Errorf("signed DO answer: %v, want it whole", naptrServices(m))
	}
}

// TestNAPTRTTLBeforeResolution: until the SRV names behind the NAPTR records are resolved, their targets
// are not even registered, and their first rounds may find them all down: the answer carries min_ttl,
// not max_ttl, as an SRV answer for unprobed targets does.
func TestNAPTRTTLBeforeResolution(t *testing.T) {
	next, open := gated(func(r *dns.Msg) *dns.Msg {
		m := naptrZone(r)
		for _, rr := range m.Answer {
			rr.Header().Ttl = 300
		}
		return m
	})
	h := newTestHandler(t, "srvhealth example.com", &fakeView{}, next)
	t.Cleanup(h.services.close)
	t.Cleanup(open)
	m := serve(t, h, "example.com.", dns.TypeNAPTR, false)
	if len(m.Answer) != 3 {
		t.Fatalf("answer %v, want the three records", m.Answer)
	}
	for _, rr := range m.Answer {
		if rr.Header().Ttl != 5 {
			t.Errorf("TTL %d, want min_ttl 5 before the SRV names are resolved: %v", rr.Header().Ttl, rr)
		}
	}
}

// TestNAPTRNonSIPRecordDoesNotCountAsSurvivor: the guard that never drops every record is for RFC 3263
// clients, which can use only the SIP records. A web or Diameter record at the same owner is nothing to
// them: with every SIP transport down, the SIP records stay, as they do with no other record there.
func TestNAPTRNonSIPRecordDoesNotCountAsSurvivor(t *testing.T) {
	for _, other := range []string{
		`example.com. 5 IN NAPTR 100 10 "u" "E2U+web:http" "!^.*$!http://www.example.com/!" .`,
		`example.com. 5 IN NAPTR 50 50 "s" "aaa+ap1:diameter.tcp" "" _diameter._tcp.example.com.`,
	} {
		withOther := func(r *dns.Msg) *dns.Msg {
			m := naptrZone(r)
			if r.Question[0].Qtype == dns.TypeNAPTR {
				m.Answer = append(m.Answer, test.NAPTR(other))
			}
			return m
		}
		v := &fakeView{status: map[string]health.Status{"tls.example.com.": down, "tcp.example.com.": down, "udp.example.com.": down}}
		h := newTestHandler(t, "srvhealth example.com", v, upstream(withOther))
		t.Cleanup(h.services.close)
		m := naptrAfterResolution(t, h, 3)
		if got := naptrServices(m); len(got) != 4 {
			t.Errorf("with %s: NAPTR services %v, want all four: every SIP transport is down, so none is dropped", other, got)
		}
	}
}

// perOwnerNAPTR answers NAPTR for nK.example.com with a TCP and a UDP transport, each an SRV name of its
// own (_sip._tcp.nK, _sip._udp.nK) whose single target is tcpK / udpK.example.com.
func perOwnerNAPTR(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	q := r.Question[0]
	switch q.Qtype {
	case dns.TypeNAPTR:
		m.Answer = []dns.RR{
			test.NAPTR(q.Name + ` 300 IN NAPTR 10 50 "s" "SIP+D2T" "" _sip._tcp.` + q.Name),
			test.NAPTR(q.Name + ` 300 IN NAPTR 20 50 "s" "SIP+D2U" "" _sip._udp.` + q.Name),
		}
	case dns.TypeSRV:
		owner, _ := strings.CutPrefix(q.Name, firstTwoLabels(q.Name))
		proto := strings.TrimPrefix(strings.Split(q.Name, ".")[1], "_")
		m.Answer = []dns.RR{test.SRV(q.Name + " 300 IN SRV 0 0 5060 " + proto + strings.TrimPrefix(owner, "n"))}
	}
	return m
}

// TestNAPTRSetsForgottenWhenNotAsked: the SRV names behind NAPTR records are kept in a table bounded by
// max_targets. Names no NAPTR answer has named for expire must leave it, or, once max_targets names have
// been seen, no new NAPTR owner would ever be filtered again.
func TestNAPTRSetsForgottenWhenNotAsked(t *testing.T) {
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	v := &fakeView{status: map[string]health.Status{"tcp1.example.com.": up, "udp1.example.com.": up, "tcp2.example.com.": down, "udp2.example.com.": up}}
	h := newTestHandler(t, "srvhealth example.com {\nmax_targets 2\n}", v, upstream(perOwnerNAPTR))
	h.now = func() time.Time { return time.Unix(0, clock.Load()) }
	t.Cleanup(h.services.close)

	// ask asks for owner's NAPTR until the SRV names it points at are resolved (or 2 s pass).
	ask := func(owner string) []string {
		t.Helper()
		resolved := func() bool {
			for _, p := range []string{"_sip._tcp.", "_sip._udp."} {
				v, ok := h.services.m.Load(p + owner)
				if !ok || v.(*srvSet).keys.Load() == nil {
					return false
				}
			}
			return true
		}
		deadline := time.Now().Add(2 * time.Second)
		for !resolved() && time.Now().Before(deadline) {
			serve(t, h, owner, dns.TypeNAPTR, false)
			time.Sleep(10 * time.Millisecond)
		}
		return naptrServices(serve(t, h, owner, dns.TypeNAPTR, false))
	}
	ask("n1.example.com.") // fills the table: two SRV names
	if got := naptrServices(serve(t, h, "n2.example.com.", dns.TypeNAPTR, false)); len(got) != 2 {
		t.Fatalf("n2 with the table full: %v, want both records (served unfiltered)", got)
	}
	clock.Add(int64(h.cfg.Expire + time.Second)) // n1's names have not been named for expire
	if got := ask("n2.example.com."); !slices.Equal(got, []string{"SIP+D2U"}) {
		t.Errorf("n2 after n1's names expired: %v, want the dead TCP transport dropped", got)
	}
}

// TestNAPTRDropsAddressesOfDroppedTargets: RFC 3403 additional-section processing adds, after the SRV
// records of the replacements, the addresses of their targets. When a record is dropped, its SRV name's
// records go from the additional section, and so must the addresses of its targets, unless a record that
// stays still leads to them.
func TestNAPTRDropsAddressesOfDroppedTargets(t *testing.T) {
	withGlue := func(r *dns.Msg) *dns.Msg {
		m := naptrZone(r)
		if r.Question[0].Qtype == dns.TypeNAPTR {
			m.Extra = []dns.RR{
				test.SRV("_sips._tcp.example.com. 5 IN SRV 0 0 5061 tls.example.com."),
				test.SRV("_sip._tcp.example.com. 5 IN SRV 0 0 5060 tcp.example.com."),
				test.A("tls.example.com. 5 IN A 192.0.2.61"),
				test.AAAA("tls.example.com. 5 IN AAAA 2001:db8::61"),
				test.A("tcp.example.com. 5 IN A 192.0.2.60"),
				test.A("ns.example.com. 5 IN A 192.0.2.53"),
			}
		}
		return m
	}
	v := &fakeView{status: map[string]health.Status{"tls.example.com.": down, "tcp.example.com.": up, "udp.example.com.": up}}
	h := newTestHandler(t, "srvhealth example.com", v, upstream(withGlue))
	t.Cleanup(h.services.close)
	m := naptrAfterResolution(t, h, 3)
	if got := naptrServices(m); !slices.Equal(got, []string{"SIP+D2T", "SIP+D2U"}) {
		t.Fatalf("NAPTR services %v, want the TLS one dropped", got)
	}
	var extra []string
	for _, rr := range m.Extra {
		extra = append(extra, rr.Header().Name+" "+dns.TypeToString[rr.Header().Rrtype])
	}
	want := []string{"_sip._tcp.example.com. SRV", "tcp.example.com. A", "ns.example.com. A"}
	if !slices.Equal(extra, want) {
		t.Errorf("additional %v, want %v: the dropped target's addresses gone, the others kept", extra, want)
	}
}
