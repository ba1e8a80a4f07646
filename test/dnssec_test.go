package test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/internal/testpeer"
	"github.com/srvhealth/srvhealth/internal/zonekey"
)

// presign returns the zone made of records (zone-file lines with absolute names) and k's DNSKEY, every
// RRset signed by k, as a signer such as dnssec-signzone would write it (without NSEC: the tests ask only
// for names and types that exist).
func presign(t *testing.T, k zonekey.Key, records ...string) string {
	t.Helper()
	type key struct {
		name string
		typ  uint16
	}
	sets := map[key][]dns.RR{}
	var order []key
	for _, line := range append(records, k.DNSKEY.String()) {
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("presign: %q: %v", line, err)
		}
		kk := key{rr.Header().Name, rr.Header().Rrtype}
		if sets[kk] == nil {
			order = append(order, kk)
		}
		sets[kk] = append(sets[kk], rr)
	}
	var b strings.Builder
	now := time.Now()
	for _, kk := range order {
		set := sets[kk]
		sig := &dns.RRSIG{
			Hdr:         dns.RR_Header{Name: kk.name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: set[0].Header().Ttl},
			TypeCovered: kk.typ, Algorithm: k.Algorithm, Labels: uint8(dns.CountLabel(kk.name)),
			OrigTtl: set[0].Header().Ttl, Expiration: uint32(now.Add(24 * time.Hour).Unix()),
			Inception: uint32(now.Add(-time.Hour).Unix()), KeyTag: k.KeyTag(), SignerName: k.Hdr.Name,
		}
		if err := sig.Sign(k.Signer, set); err != nil {
			t.Fatal(err)
		}
		for _, rr := range set {
			b.WriteString(rr.String() + "\n")
		}
		b.WriteString(sig.String() + "\n")
	}
	return b.String()
}

// sipZone returns the records of zone with a _sip._tcp service on two targets, live and dead, both at
// 127.0.0.1, and an _xmpp-client._tcp service whose only target is dead.
func sipZone(zone, livePort, deadPort string) []string {
	return []string{
		zone + " 300 IN SOA ns." + zone + " hostmaster." + zone + " 1 7200 3600 1209600 300",
		zone + " 300 IN NS ns." + zone,
		"ns." + zone + " 300 IN A 127.0.0.1",
		"_sip._tcp." + zone + " 300 IN SRV 10 50 " + livePort + " live." + zone,
		"_sip._tcp." + zone + " 300 IN SRV 10 50 " + deadPort + " dead." + zone,
		"_xmpp-client._tcp." + zone + " 300 IN SRV 10 50 " + deadPort + " dead." + zone,
		"live." + zone + " 300 IN A 127.0.0.1",
		"dead." + zone + " 300 IN A 127.0.0.1",
	}
}

// srvhealthBlock probes with TCP connects, quickly, and keeps TTLs short so that a resolver's cache
// follows the health state within a second or two.
const srvhealthBlock = `srvhealth {
			probe _sip._tcp tcp
			probe _xmpp-client._tcp tcp
			all_down _xmpp-client._tcp nodata
			interval 100ms
			timeout 50ms
			fails 1
			max_ttl 2s
			min_ttl 1s
		}`

// validated asks resolver for name/qtype with DO and AD set, the way a stub behind a validating resolver
// asks, and fails the test unless the resolver vouches for the answer (AD) .
func validated(t *testing.T, resolver, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(4096, true)
	m.AuthenticatedData = true
	r := ExchangeMsg(t, "udp", resolver, m)
	if r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData {
		t.Fatalf("%s %s through the validating resolver: rcode %s, AD %v, want NOERROR and AD:\n%v",
			name, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], r.AuthenticatedData, r)
	}
	return r
}

// srvsAndSig returns the SRV records of m's answer and the RRSIG over them (the last one, if several).
func srvsAndSig(m *dns.Msg) ([]dns.RR, *dns.RRSIG) {
	var srvs []dns.RR
	var sig *dns.RRSIG
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.SRV:
			srvs = append(srvs, rr)
		case *dns.RRSIG:
			if rr.TypeCovered == dns.TypeSRV {
				sig = rr
			}
		}
	}
	return srvs, sig
}

// TestSignedOnlineFilteredThroughValidatingResolver: a zone the dnssec plugin signs online, behind a
// validating Unbound with the zone's trust anchor. The dead target leaves the answers the resolver's
// clients get, those answers validate (AD), the live target stays, and the all-down nodata answer is a
// signed, provable denial.
func TestSignedOnlineFilteredThroughValidatingResolver(t *testing.T) {
	const zone = "signed-online.test."
	key := zonekey.New(t, zone, 257)
	live := TCPPeer(t, false)
	db := WriteFile(t, "db", strings.Join(sipZone(zone, live, ClosedPort(t)), "\n")+"\n")
	s := CoreDNS(t, zone+`:0 {
		`+srvhealthBlock+`
		cache 30
		dnssec {
			key file `+key.Base+`
		}
		file `+db+`
	}`)
	u := testpeer.Unbound(t, testpeer.UnboundConfig{Zone: zone, Upstream: s.UDP, TrustAnchor: []string{key.DNSKEY.String()}})
	resolver := u.Addr.String()

	qname := "_sip._tcp." + zone
	var r *dns.Msg
	if !Eventually(10*time.Second, func() bool {
		r = validated(t, resolver, qname, dns.TypeSRV)
		return slices.Equal(SRVTargets(r), []string{"live." + zone})
	}) {
		t.Fatalf("through the resolver: targets %v, want only the live one", SRVTargets(r))
	}

	// Straight from CoreDNS: the filtered RRset carries a signature by the zone's key that verifies.
	do := new(dns.Msg)
	do.SetQuestion(qname, dns.TypeSRV)
	do.SetEdns0(4096, true)
	for _, network := range []string{"udp", "tcp"} {
		addr := s.UDP
		if network == "tcp" {
			addr = s.TCP
		}
		m := ExchangeMsg(t, network, addr, do)
		srvs, sig := srvsAndSig(m)
		if len(srvs) != 1 || sig == nil {
			t.Fatalf("%s DO query: answer %v, want the live SRV record and its RRSIG", network, m.Answer)
		}
		if err := sig.Verify(key.DNSKEY, srvs); err != nil || !sig.ValidityPeriod(time.Now()) {
			t.Errorf("%s DO query: RRSIG does not verify now: %v", network, err)
		}
		if srvs[0].Header().Ttl > 2 {
			t.Errorf("%s DO query: TTL %d, want at most max_ttl 2", network, srvs[0].Header().Ttl)
		}
	}

	// Every target of _xmpp-client._tcp is dead: nodata, with a denial the resolver can prove.
	xq := "_xmpp-client._tcp." + zone
	if !Eventually(10*time.Second, func() bool {
		r = validated(t, resolver, xq, dns.TypeSRV)
		return len(r.Answer) == 0
	}) {
		t.Fatalf("%s through the resolver: answer %v, want nodata", xq, r.Answer)
	}
}

// TestPreSignedServedWholeAndValid: a zone signed elsewhere (here, before it was loaded) cannot be
// re-signed, so srvhealth serves its SRV RRset whole, but reordered and with its TTL capped, and it still
// validates through the resolver.
func TestPreSignedServedWholeAndValid(t *testing.T) {
	const zone = "presigned.test."
	key := zonekey.New(t, zone, 257)
	live := TCPPeer(t, false)
	db := WriteFile(t, "db", presign(t, key, sipZone(zone, live, ClosedPort(t))...))
	s := CoreDNS(t, zone+`:0 {
		`+srvhealthBlock+`
		file `+db+`
	}`)
	u := testpeer.Unbound(t, testpeer.UnboundConfig{Zone: zone, Upstream: s.UDP, TrustAnchor: []string{key.DNSKEY.String()}})

	qname := "_sip._tcp." + zone
	// The dead target is known down once a plain query no longer gets it.
	if !Eventually(10*time.Second, func() bool {
		return slices.Equal(SRVTargets(Exchange(t, "udp", s.UDP, qname, dns.TypeSRV)), []string{"live." + zone})
	}) {
		t.Fatal("plain query: the dead target was never dropped")
	}
	r := validated(t, u.Addr.String(), qname, dns.TypeSRV)
	if got := SRVTargets(r); !slices.Equal(got, []string{"dead." + zone, "live." + zone}) {
		t.Errorf("through the resolver: targets %v, want the whole signed RRset", got)
	}

	do := new(dns.Msg)
	do.SetQuestion(qname, dns.TypeSRV)
	do.SetEdns0(4096, true)
	firsts := map[string]int{}
	for range 200 {
		m := ExchangeMsg(t, "udp", s.UDP, do)
		var srvs []dns.RR
		for _, rr := range m.Answer {
			if rr.Header().Ttl > 2 {
				t.Fatalf("DO query: %s TTL %d, want at most max_ttl 2", dns.TypeToString[rr.Header().Rrtype], rr.Header().Ttl)
			}
			if s, ok := rr.(*dns.SRV); ok {
				srvs = append(srvs, s)
			}
		}
		if len(srvs) != 2 {
			t.Fatalf("DO query: %v, want both SRV records", m.Answer)
		}
		firsts[srvs[0].(*dns.SRV).Target]++
	}
	// Equal weights: each target first in half of 200 answers; below 60 is a 4.2-sigma event.
	for _, target := range []string{"live." + zone, "dead." + zone} {
		if firsts[target] < 60 {
			t.Errorf("DO query: %s first in %d of 200 answers, want about 100 (reordered)", target, firsts[target])
		}
	}
}

// TestCacheHitsReordered: srvhealth runs before cache, so answers served from the cache are still put in
// RFC 2782 weighted random order on every query, which clients that take the first record depend on.
func TestCacheHitsReordered(t *testing.T) {
	const zone = "cache-order.test."
	a, b := TCPPeer(t, false), TCPPeer(t, false)
	db := WriteFile(t, "db", strings.Join([]string{
		zone + " 300 IN SOA ns." + zone + " hostmaster." + zone + " 1 7200 3600 1209600 300",
		zone + " 300 IN NS ns." + zone,
		"ns." + zone + " 300 IN A 127.0.0.1",
		"_sip._tcp." + zone + " 300 IN SRV 10 70 " + a + " a." + zone,
		"_sip._tcp." + zone + " 300 IN SRV 10 30 " + b + " b." + zone,
		"a." + zone + " 300 IN A 127.0.0.1",
		"b." + zone + " 300 IN A 127.0.0.1",
	}, "\n")+"\n")
	s := CoreDNS(t, zone+`:0 {
		srvhealth {
			probe _sip._tcp tcp
		}
		cache 30
		prometheus localhost:0
		file `+db+`
	}`)
	server := "dns://:0" // the server label is the block's address as written
	hits := func() float64 { return MetricSeries(t, "coredns_cache_hits_total", "server")[server] }
	before := hits()
	const n = 2000
	first := 0
	for range n {
		m := Exchange(t, "udp", s.UDP, "_sip._tcp."+zone, dns.TypeSRV)
		if ts := m.Answer; len(ts) == 2 && ts[0].(*dns.SRV).Target == "a."+zone {
			first++
		}
	}
	if h := hits() - before; h < n-10 {
		t.Fatalf("%v cache hits for %d queries: the answers did not come from the cache", h, n)
	}
	// Weights 70/30: a first in 70% of answers; 2,000 samples give a standard deviation of about 1%.
	if p := float64(first) / n; p < 0.65 || p > 0.75 {
		t.Errorf("a first in %.3f of cached answers, want 0.70 ± 0.05", p)
	}
}

// TestSignedOnceWhenDnssecFollows: with dnssec right after srvhealth in the block (no cache between), a
// DO answer is signed once, as served: srvhealth takes the answer from the plugin after dnssec and has
// dnssec sign only what it keeps. The signature cache then holds the filtered SRV RRset's and its live
// target's address RRset's signatures (and the NS RRset's, which file puts in authority), and nothing
// signed over the dead target; the answer verifies.
func TestSignedOnceWhenDnssecFollows(t *testing.T) {
	const zone = "signed-once.test."
	key := zonekey.New(t, zone, 257)
	live := TCPPeer(t, false)
	db := WriteFile(t, "db", strings.Join(sipZone(zone, live, ClosedPort(t)), "\n")+"\n")
	s := CoreDNS(t, zone+`:0 {
		prometheus 127.0.0.1:0
		`+srvhealthBlock+`
		dnssec {
			key file `+key.Base+`
		}
		file `+db+`
	}`)
	qname := "_sip._tcp." + zone
	plain := new(dns.Msg)
	plain.SetQuestion(qname, dns.TypeSRV)
	if !Eventually(10*time.Second, func() bool {
		return slices.Equal(SRVTargets(ExchangeMsg(t, "udp", s.UDP, plain)), []string{"live." + zone})
	}) {
		t.Fatal("the dead target was never dropped")
	}

	do := new(dns.Msg)
	do.SetQuestion(qname, dns.TypeSRV)
	do.SetEdns0(4096, true)
	for range 3 {
		m := ExchangeMsg(t, "udp", s.UDP, do)
		srvs, sig := srvsAndSig(m)
		if len(srvs) != 1 || sig == nil || sig.Verify(key.DNSKEY, srvs) != nil {
			t.Fatalf("DO answer %v: want the live SRV record and an RRSIG over it that verifies", m.Answer)
		}
	}
	// The series of a server is labelled with its address as written (port 0), as every test server's
	// is; the gauge was last set by the answers above (the tests of this package run one at a time).
	entries, ok := MetricValue(t, "coredns_dnssec_cache_entries", map[string]string{"server": "dns://:0", "type": "signature"})
	if !ok || entries != 3 {
		t.Errorf("dnssec's signature cache holds %v entries (series found: %v), want 3: the filtered SRV RRset, the zone's NS RRset (authority) and the live target's A; signing the upstream's RRset first would add it and the dead target's A", entries, ok)
	}
}
