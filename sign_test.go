package srvhealth

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/dnssec"
	"github.com/coredns/coredns/plugin/pkg/cache"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/internal/zonekey"
)

// onlineSigner returns the dnssec plugin signing zone with a fresh ECDSA key, in front of next, and the
// key's public half.
func onlineSigner(t *testing.T, zone string, next test.Handler) (dnssec.Dnssec, *dns.DNSKEY) {
	t.Helper()
	k := zonekey.New(t, zone, 257)
	key, err := dnssec.ParseKeyFile(k.Base+".key", k.Base+".private")
	if err != nil {
		t.Fatal(err)
	}
	return dnssec.New([]string{zone}, []*dnssec.DNSKEY{key}, false, next, cache.New[[]dns.RR](100)), k.DNSKEY
}

// verifyRRsets checks that every RRset of sec has an RRSIG by k that verifies and whose TTL is the
// RRset's (the original TTL may be higher: a validator takes the lesser), and returns the types signed.
func verifyRRsets(t *testing.T, k *dns.DNSKEY, sec []dns.RR) []uint16 {
	t.Helper()
	type set struct {
		name string
		typ  uint16
	}
	sets := map[set][]dns.RR{}
	sigs := map[set]*dns.RRSIG{}
	for _, rr := range sec {
		if s, ok := rr.(*dns.RRSIG); ok {
			sigs[set{s.Hdr.Name, s.TypeCovered}] = s
			continue
		}
		if rr.Header().Rrtype != dns.TypeOPT {
			key := set{rr.Header().Name, rr.Header().Rrtype}
			sets[key] = append(sets[key], rr)
		}
	}
	var types []uint16
	for key, rrs := range sets {
		sig := sigs[key]
		if sig == nil {
			t.Errorf("%s %s RRset unsigned: %v", key.name, dns.TypeToString[key.typ], rrs)
			continue
		}
		if err := sig.Verify(k, rrs); err != nil {
			t.Errorf("RRSIG over %s %s does not verify: %v", key.name, dns.TypeToString[key.typ], err)
		}
		if ttl := rrs[0].Header().Ttl; sig.Hdr.Ttl != ttl || sig.OrigTtl < ttl {
			t.Errorf("RRSIG over %s %s: TTL %d, original %d, records %d", key.name, dns.TypeToString[key.typ], sig.Hdr.Ttl, sig.OrigTtl, ttl)
		}
		if !slices.Contains(types, key.typ) {
			types = append(types, key.typ)
		}
	}
	slices.Sort(types)
	return types
}

// TestOnlineSignedAnswerFiltered: with the block's dnssec plugin signing the zone, a DO query gets the
// filtered, TTL-capped answer, signed anew, and it verifies.
func TestOnlineSignedAnswerFiltered(t *testing.T) {
	st := map[string]health.Status{"sip1.example.com.": down, "sip2.example.com.": up}
	signer, k := onlineSigner(t, "example.com.", upstream(sipAnswer))
	h := newTestHandler(t, "srvhealth example.com", &fakeView{status: st}, signer)
	h.signer = &signer
	for range 3 { // the second and third answers come from dnssec's signature cache
		m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, true)
		got := targets(m)
		slices.Sort(got)
		if want := []string{"sip2.example.com.", "standby.example.com."}; !slices.Equal(got, want) {
			t.Fatalf("targets %v, want %v", got, want)
		}
		if types := verifyRRsets(t, k, m.Answer); !slices.Equal(types, []uint16{dns.TypeSRV}) {
			t.Errorf("signed types in answer %v, want SRV", types)
		}
		for _, rr := range m.Answer {
			if rr.Header().Ttl > 30 {
				t.Errorf("%s TTL %d, want at most max_ttl 30", dns.TypeToString[rr.Header().Rrtype], rr.Header().Ttl)
			}
		}
		verifyRRsets(t, k, m.Extra)
	}
}

// TestOnlineSignedNoData: the made-up negative answer is signed and provable (SOA and an NSEC that denies
// SRV at the name, both signed).
func TestOnlineSignedNoData(t *testing.T) {
	soaQueries := 0
	signer, k := onlineSigner(t, "example.com.", zoneUpstream(&soaQueries))
	h := newTestHandler(t, "srvhealth example.com {\nall_down nodata\n}", &fakeView{status: allDown}, signer)
	h.signer = &signer
	m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, true)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
		t.Fatalf("rcode %s answer %v, want NOERROR, empty", dns.RcodeToString[m.Rcode], m.Answer)
	}
	if types := verifyRRsets(t, k, m.Ns); !slices.Equal(types, []uint16{dns.TypeSOA, dns.TypeNSEC}) {
		t.Fatalf("signed types in authority %v, want SOA and NSEC", types)
	}
	for _, rr := range m.Ns {
		if n, ok := rr.(*dns.NSEC); ok && slices.Contains(n.TypeBitMap, dns.TypeSRV) {
			t.Errorf("NSEC %s claims SRV exists", n)
		}
	}
}

// TestPreSignedReorderedAndCapped: an RRset signed by no dnssec plugin of the block stays whole, reordered
// and with its TTL (and its RRSIG's) capped.
func TestPreSignedReorderedAndCapped(t *testing.T) {
	presigned := func(r *dns.Msg) *dns.Msg {
		m := sipAnswer(r)
		m.Answer = append(m.Answer, test.RRSIG("_sip._tcp.example.com. 300 IN RRSIG SRV 13 4 300 20261231000000 20261101000000 12345 example.com. c2lnbmF0dXJl"))
		return m
	}
	st := map[string]health.Status{"sip1.example.com.": down}
	other, _ := onlineSigner(t, "other.example.", upstream(presigned))
	for _, signer := range []*dnssec.Dnssec{nil, &other} {
		h := newTestHandler(t, "srvhealth example.com", &fakeView{status: st}, upstream(presigned))
		h.signer = signer
		m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, true)
		if got := targets(m); len(got) != 3 {
			t.Errorf("signer %v: targets %v, want all 3", signer != nil, got)
		}
		for _, rr := range m.Answer {
			if rr.Header().Ttl != 30 {
				t.Errorf("%s TTL %d, want capped to 30", dns.TypeToString[rr.Header().Rrtype], rr.Header().Ttl)
			}
			if s, ok := rr.(*dns.RRSIG); ok && s.OrigTtl != 300 {
				t.Errorf("RRSIG original TTL changed to %d", s.OrigTtl)
			}
		}
	}
}

// TestOnlineSignedAllUp: with every target up the signed answer keeps all its records and its upstream
// signature, reordered and with TTLs capped, and it still verifies.
func TestOnlineSignedAllUp(t *testing.T) {
	signer, k := onlineSigner(t, "example.com.", upstream(sipAnswer))
	h := newTestHandler(t, "srvhealth example.com", &fakeView{}, signer)
	h.signer = &signer
	m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, true)
	if got := targets(m); len(got) != 3 {
		t.Fatalf("targets %v, want all 3", got)
	}
	var srvs []dns.RR
	var sig *dns.RRSIG
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.SRV:
			srvs = append(srvs, rr)
		case *dns.RRSIG:
			sig = rr
		}
		if rr.Header().Ttl > 30 {
			t.Errorf("%s TTL %d, want at most max_ttl 30", dns.TypeToString[rr.Header().Rrtype], rr.Header().Ttl)
		}
	}
	if sig == nil || sig.Verify(k, srvs) != nil {
		t.Errorf("the signature %v does not verify over the answer", sig)
	}
}

// TestOnlineSignatureCachedAcrossTTLs: the health-aware TTL changes from one second to the next, and the
// answers stay signed from dnssec's signature cache (the same RRSIG each time) while their TTLs follow
// the health-aware one and verify (issue 21: signed at the changing TTL, every RRset was signed anew each
// second).
func TestOnlineSignatureCachedAcrossTTLs(t *testing.T) {
	t0 := now
	st := map[string]health.Status{
		"sip1.example.com.":    {State: health.Down, Resolved: true, Down: []netip.Addr{netip.MustParseAddr("192.0.2.1")}},
		"sip2.example.com.":    {State: health.Up, Resolved: true, Until: t0.Add(25 * time.Second), Up: []netip.Addr{netip.MustParseAddr("192.0.2.2")}},
		"standby.example.com.": {State: health.Up, Resolved: true, Until: t0.Add(25 * time.Second), Up: []netip.Addr{netip.MustParseAddr("192.0.2.9")}},
	}
	signer, k := onlineSigner(t, "example.com.", upstream(sipAnswer))
	h := newTestHandler(t, "srvhealth example.com", &fakeView{status: st}, signer)
	h.signer = &signer
	var first string
	for i := range 5 {
		at := t0.Add(time.Duration(3*i) * time.Second)
		h.now = func() time.Time { return at }
		m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, true)
		verifyRRsets(t, k, m.Answer)
		verifyRRsets(t, k, m.Extra)
		var sig *dns.RRSIG
		for _, rr := range m.Answer {
			if s, ok := rr.(*dns.RRSIG); ok {
				sig = s
			} else if want := uint32(25 - 3*i); rr.Header().Ttl != want {
				t.Errorf("query %d: %s TTL %d, want the health-aware %d", i, dns.TypeToString[rr.Header().Rrtype], rr.Header().Ttl, want)
			}
		}
		if sig == nil {
			t.Fatalf("query %d: no RRSIG", i)
		}
		if i == 0 {
			first = sig.Signature
		} else if sig.Signature != first {
			t.Errorf("query %d (health TTL %d): signed anew, not from the signature cache", i, 25-3*i)
		}
	}
}

// TestSignedOnceWhenDnssecIsNext: with the block's dnssec plugin right after srvhealth, a DO answer is
// signed once, as srvhealth serves it: dnssec's signature cache holds the signatures of the RRsets
// served and of nothing else (signing the upstream's whole RRset first would add one), the answer is
// filtered and verifies, every query after the first is a cache hit, and a negative answer is signed
// and denied as dnssec alone signs it. A query without DO is not signed.
func TestSignedOnceWhenDnssecIsNext(t *testing.T) {
	st := map[string]health.Status{"sip1.example.com.": down, "sip2.example.com.": up}
	k := zonekey.New(t, "example.com.", 257)
	key, err := dnssec.ParseKeyFile(k.Base+".key", k.Base+".private")
	if err != nil {
		t.Fatal(err)
	}
	sigs := cache.New[[]dns.RR](100)
	answers := 0
	next := test.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		answers++
		if r.Question[0].Name == "_sip._tcp.example.com." {
			return upstream(sipAnswer).ServeDNS(ctx, w, r)
		}
		m := new(dns.Msg).SetReply(r) // no such records: NODATA with the SOA
		m.Ns = []dns.RR{test.SOA("example.com. 3600 IN SOA ns.example.com. admin.example.com. 1 7200 3600 1209600 60")}
		return 0, w.WriteMsg(m)
	})
	signer := dnssec.New([]string{"example.com."}, []*dnssec.DNSKEY{key}, false, next, sigs)
	h := newTestHandler(t, "srvhealth example.com", &fakeView{status: st}, signer)
	h.signer, h.signsNext = &signer, true

	for i := range 3 {
		m := serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, true)
		got := targets(m)
		slices.Sort(got)
		if want := []string{"sip2.example.com.", "standby.example.com."}; !slices.Equal(got, want) {
			t.Fatalf("targets %v, want %v", got, want)
		}
		if types := verifyRRsets(t, k.DNSKEY, m.Answer); !slices.Equal(types, []uint16{dns.TypeSRV}) {
			t.Errorf("signed types in answer %v, want SRV", types)
		}
		extra := verifyRRsets(t, k.DNSKEY, m.Extra)
		for _, rr := range append(m.Answer, m.Extra...) {
			if rr.Header().Rrtype != dns.TypeOPT && rr.Header().Ttl > 30 {
				t.Errorf("%s TTL %d, want at most max_ttl 30", dns.TypeToString[rr.Header().Rrtype], rr.Header().Ttl)
			}
		}
		// One signature per RRset served: the SRV RRset and the addresses of the additional section (one
		// RRset per name: sip2, standby and ns).
		if want := 1 + 3; sigs.Len() != want {
			t.Errorf("query %d: %d RRsets signed (extra types %v), want %d: those served, once", i+1, sigs.Len(), extra, want)
		}
	}
	if answers != 3 {
		t.Errorf("the upstream answered %d times for 3 queries", answers)
	}

	m := serve(t, h, "_sip._udp.example.com.", dns.TypeSRV, true)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
		t.Fatalf("no _sip._udp records: rcode %s answer %v, want NOERROR, empty", dns.RcodeToString[m.Rcode], m.Answer)
	}
	if types := verifyRRsets(t, k.DNSKEY, m.Ns); !slices.Equal(types, []uint16{dns.TypeSOA, dns.TypeNSEC}) {
		t.Errorf("signed types in the negative answer's authority %v, want SOA and NSEC", types)
	}

	m = serve(t, h, "_sip._tcp.example.com.", dns.TypeSRV, false)
	for _, rr := range append(append(m.Answer, m.Ns...), m.Extra...) {
		if rr.Header().Rrtype == dns.TypeRRSIG {
			t.Errorf("a query without DO got %s", rr)
		}
	}
	if got := targets(m); slices.Contains(got, "sip1.example.com.") {
		t.Errorf("a query without DO got the dead sip1: %v", got)
	}
}
