package srvhealth

import (
	"context"
	"slices"

	"github.com/coredns/coredns/plugin/dnssec"
	"github.com/miekg/dns"
)

// Online signing. When the block signs its zones with the dnssec plugin, the RRSIGs srvhealth sees on a DO
// answer were made in this process, moments ago, over the whole RRset. Instead of serving that RRset whole
// (a subset of it would fail validation), srvhealth takes the signatures off, filters and orders the
// answer as it does for a query without DO, and hands the result back to the same dnssec plugin to sign:
// the answer validates, and it holds only live targets. srvhealth keeps its one place in the chain, before
// cache, so every answer, cached or not, is still judged against the health state of the moment and
// reordered (see the README's "Position in the chain").
//
// Only the dnssec plugin decides what it signs: an answer for a name outside its zones comes back from it
// unsigned, and srvhealth then treats the original as signed elsewhere (a pre-signed zone, sign, an
// upstream behind forward): reordered and TTL-capped, never filtered.

// resign returns res filtered and ordered as for a query without DO, signed by signer; ok is false when
// signer does not sign res's name, and res is then untouched.
//
// sc is the scratch memory the rewrite works in, with stableTTL set; nil for one of its own (the caller's is
// in use).
func (h *Handler) resign(ctx context.Context, signer dnssec.Dnssec, req, res *dns.Msg, svc *Service, sc *scratch) (*dns.Msg, outcome, bool) {
	if sc == nil {
		sc = &scratch{stableTTL: true}
	}
	bare := unsigned(res)
	// The signature cache of dnssec is keyed by the RRset as text, TTL included, and the health-aware TTL
	// changes every second: signed at it, every RRset would be signed anew each second, and hashed as
	// text on every query all the same. So the answer is signed at max_ttl (a TTL that stays) and its TTLs
	// are lowered afterwards, the RRSIGs' with them: a validator takes the lesser of an RRset's TTL and its
	// RRSIG's original TTL (RFC 4035 §5.3.3), and the RRSIG's TTL must be its RRset's (RFC 4034 §3).
	out, o := h.rewrite(ctx, req, bare, svc, sc)
	if out.Rcode == dns.RcodeServerFailure {
		return out, o, true // all_down servfail: nothing to sign
	}

	// The signature cache of dnssec is keyed by the RRset as written, order included; the order of an
	// RRset is free under DNSSEC (RFC 4034 §6.3), so sign it in one canonical order and serve it in the
	// weighted random one, which keeps every query after the first a cache hit.
	served := srvsOf(out.Answer)
	canonical := slices.Clone(served)
	slices.SortFunc(canonical, func(a, b *dns.SRV) int { return cmpSRV(a, b) })
	out.Answer = replaceSRVs(out.Answer, canonical, true)

	signer.Next = writeOnly{out}
	w := &captureWriter{}
	if _, err := signer.ServeDNS(ctx, w, req); err != nil || w.msg == nil || !hasRRSIG(w.msg) {
		return res, outcome{}, false
	}
	signed := w.msg
	signed.Answer = replaceSRVs(signed.Answer, served, false)
	if o.ttl > 0 {
		lowerTTLs(signed, o.ttl)
	}
	o.signed = false
	return signed, o, true
}

// lowerTTLs caps the TTL of the records of m's answer and of the address records and their RRSIGs in its
// additional section at ttl (the OPT record's TTL field holds EDNS flags, and stays). Records are copied
// before they change: the RRSIGs come from dnssec's cache, the rest from the backend.
func lowerTTLs(m *dns.Msg, ttl uint32) {
	c := capper{ttl: ttl}
	c.capAll(m.Answer)
	for i, rr := range m.Extra {
		switch rr.Header().Rrtype {
		case dns.TypeA, dns.TypeAAAA, dns.TypeRRSIG:
			m.Extra[i] = c.cap(rr)
		}
	}
}

// unsigned returns a copy of res without the DNSSEC records of any section, which the signer makes anew.
// The sections are new slices: the records themselves are shared with the upstream and never modified.
// (The signer appends its RRSIGs to the sections it is given, and an upstream such as file hands out
// slices of its zone.)
func unsigned(res *dns.Msg) *dns.Msg {
	c := *res
	c.Answer, c.Ns, c.Extra = stripDNSSEC(res.Answer), stripDNSSEC(res.Ns), stripDNSSEC(res.Extra)
	return &c
}

func stripDNSSEC(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, 0, len(rrs))
	for _, rr := range rrs {
		switch rr.Header().Rrtype {
		case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3:
			continue
		}
		out = append(out, rr)
	}
	return out
}

func srvsOf(rrs []dns.RR) []*dns.SRV {
	var out []*dns.SRV
	for _, rr := range rrs {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, s)
		}
	}
	return out
}

func cmpSRV(a, b *dns.SRV) int {
	switch {
	case a.Priority != b.Priority:
		return int(a.Priority) - int(b.Priority)
	case a.Weight != b.Weight:
		return int(a.Weight) - int(b.Weight)
	case a.Port != b.Port:
		return int(a.Port) - int(b.Port)
	case a.Target < b.Target:
		return -1
	case a.Target > b.Target:
		return 1
	}
	return 0
}

func hasRRSIG(m *dns.Msg) bool {
	for _, sec := range [][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range sec {
			if rr.Header().Rrtype == dns.TypeRRSIG {
				return true
			}
		}
	}
	return false
}

// writeOnly is the next plugin of the signer: it answers with the message srvhealth made.
type writeOnly struct{ m *dns.Msg }

func (w writeOnly) ServeDNS(_ context.Context, rw dns.ResponseWriter, _ *dns.Msg) (int, error) {
	return w.m.Rcode, rw.WriteMsg(w.m)
}

func (writeOnly) Name() string { return pluginName }
