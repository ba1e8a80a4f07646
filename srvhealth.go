// Package srvhealth is a CoreDNS plugin that keeps SIP and XMPP SRV answers pointing at live servers: it
// drops targets that are CNAMEs, have no address or are down, orders the rest by RFC 2782 priority and
// weight, and caps the TTL so that failover is fast.
package srvhealth

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metadata"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

// Handler is the srvhealth plugin.
type Handler struct {
	Next plugin.Handler

	cfg  *Config
	view View
	intn func(n int) int  // uniform random integer in [0, n); rand.IntN, or seeded in tests
	now  func() time.Time // time.Now, or fixed in tests

	monitor *health.Monitor // nil when view is a test fake
	warm    *warmer
	inst    *instance // the caddy instance it belongs to; nil in tests that build it by hand
}

// Name implements plugin.Handler.
func (h *Handler) Name() string { return pluginName }

// ServeDNS implements plugin.Handler.
func (h *Handler) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	svc := h.match(r)
	if svc == nil {
		return plugin.NextOrFailure(pluginName, h.Next, ctx, w, r)
	}
	rw := &responseWriter{ResponseWriter: w, h: h, svc: svc, req: r, ctx: ctx}
	return plugin.NextOrFailure(pluginName, h.Next, ctx, rw, r)
}

// match returns the configured service an SRV query is for, or nil when the query is not ours. It does not
// allocate: it runs on every query.
func (h *Handler) match(r *dns.Msg) *Service {
	if len(r.Question) != 1 || r.Question[0].Qtype != dns.TypeSRV {
		return nil
	}
	name := r.Question[0].Name
	if !underZones(name, h.cfg.Zones) {
		return nil
	}
	for i := range h.cfg.Services {
		s := &h.cfg.Services[i]
		if len(name) > len(s.Label) && strings.EqualFold(name[:len(s.Label)], s.Label) {
			return s
		}
	}
	return nil
}

// underZones reports whether name is equal to or below one of zones (lower case, fully qualified),
// ignoring case, without allocating.
func underZones(name string, zones []string) bool {
	for _, z := range zones {
		if z == "." {
			return true
		}
		if len(name) < len(z) || !strings.EqualFold(name[len(name)-len(z):], z) {
			continue
		}
		if len(name) == len(z) || name[len(name)-len(z)-1] == '.' {
			return true
		}
	}
	return false
}

// responseWriter rewrites the next plugin's answer on its way to the client.
type responseWriter struct {
	dns.ResponseWriter
	h   *Handler
	svc *Service
	req *dns.Msg
	ctx context.Context
}

// WriteMsg implements dns.ResponseWriter.
func (rw *responseWriter) WriteMsg(res *dns.Msg) error {
	out, o := rw.h.rewrite(rw.req, res, rw.svc)
	server := metrics.WithServer(rw.ctx)
	for reason, n := range o.dropped {
		if n > 0 {
			droppedCount.WithLabelValues(server, Reason(reason).String()).Add(float64(n))
		}
	}
	if o.allDown {
		allDownCount.WithLabelValues(server, o.policy.String()).Inc()
	}
	if o.signed {
		signedCount.WithLabelValues(server).Inc()
	}
	if info, ok := rw.ctx.Value(infoKey{}).(*requestInfo); ok {
		info.outcome = o
	}
	return rw.ResponseWriter.WriteMsg(out)
}

// outcome is what rewrite did to one answer.
type outcome struct {
	dropped [len(reasonNames)]int // records dropped, by Reason
	allDown bool                  // nothing survived and policy was applied
	policy  Policy
	signed  bool // the RRset was signed and the client asked for DNSSEC: reordered only
}

// rewrite is the query path's pipeline: judge every target, filter, order, cap the TTL and fix the
// additional section. Answers it has no business changing are returned as they are.
func (h *Handler) rewrite(req, res *dns.Msg, svc *Service) (*dns.Msg, outcome) {
	var o outcome
	if res == nil || res.Rcode != dns.RcodeSuccess || res.Truncated {
		return res, o
	}
	srvs := make([]*dns.SRV, 0, len(res.Answer))
	signed := false
	for _, rr := range res.Answer {
		switch rr := rr.(type) {
		case *dns.SRV:
			if rr.Target == "." {
				return res, o // RFC 2782 "decidedly not available" is the zone owner's word; leave it
			}
			srvs = append(srvs, rr)
		case *dns.RRSIG:
			signed = signed || rr.TypeCovered == dns.TypeSRV
		}
	}
	if len(srvs) == 0 {
		return res, o
	}
	if signed {
		if opt := req.IsEdns0(); opt != nil && opt.Do() {
			// A subset of a signed RRset fails validation, but the order of an RRset is free (RFC 4034
			// §6.3): reorder and keep everything.
			o.signed = true
			order(srvs, h.intn)
			res.Answer = replaceSRVs(res.Answer, srvs, false)
			return res, o
		}
	}

	domain := serviceDomain(srvs[0].Hdr.Name)
	js := make([]judged, len(srvs))
	for i, s := range srvs {
		js[i].srv = s
		if !h.inScope(s.Target) {
			continue
		}
		k := health.NewKey(s.Target, s.Port, svc.Method, domain)
		js[i].status, js[i].known = h.view.Check(k, domain)
		js[i].reason = judge(js[i].status, js[i].known, h.cfg)
	}

	allDown := filter(js, svc.AllDown)
	for _, j := range js {
		if !j.served {
			o.dropped[j.reason]++
		}
	}
	if allDown {
		o.allDown, o.policy = true, svc.AllDown
		switch svc.AllDown {
		case ServFail:
			res.Rcode = dns.RcodeServerFailure
			res.Answer, res.Ns = nil, nil
			res.Extra = onlyOPT(res.Extra)
			return res, o
		case NoData, Unavailable:
			ttl := uint32(h.cfg.MinTTL / time.Second)
			res.Answer = replaceSRVs(res.Answer, nil, signed)
			if svc.AllDown == Unavailable {
				res.Answer = append(res.Answer, &dns.SRV{
					Hdr:    dns.RR_Header{Name: srvs[0].Hdr.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: ttl},
					Target: ".",
				})
			}
			res.Extra = fixAdditional(res.Extra, js, ttl, false)
			return res, o
		}
	}

	kept := srvs[:0] // srvs is ours; reuse it for the records served, in order
	for _, j := range js {
		if j.served {
			kept = append(kept, j.srv)
		}
	}
	order(kept, h.intn)
	ttl := healthTTL(js, h.now(), h.cfg.MinTTL, h.cfg.MaxTTL)
	answer := replaceSRVs(res.Answer, kept, signed)
	for i, rr := range answer {
		answer[i] = capTTL(rr, ttl)
	}
	res.Answer = answer
	res.Extra = fixAdditional(res.Extra, js, ttl, allDown)
	return res, o
}

// replaceSRVs returns a new answer section with the SRV records of answer replaced by srvs, in srvs'
// order, after every other record (a CNAME chain leading to them). With dropSigs, RRSIGs over SRV go too:
// they no longer cover the RRset and the client did not ask for them.
func replaceSRVs(answer []dns.RR, srvs []*dns.SRV, dropSigs bool) []dns.RR {
	out := make([]dns.RR, 0, len(answer))
	var sigs []dns.RR
	for _, rr := range answer {
		switch rr := rr.(type) {
		case *dns.SRV:
			continue
		case *dns.RRSIG:
			if rr.TypeCovered == dns.TypeSRV {
				if !dropSigs {
					sigs = append(sigs, rr)
				}
				continue
			}
		}
		out = append(out, rr)
	}
	for _, s := range srvs {
		out = append(out, s)
	}
	return append(out, sigs...)
}

func onlyOPT(extra []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}

// serviceDomain returns the domain of an SRV owner name: "example.com" of "_sip._tcp.example.com.".
func serviceDomain(owner string) string {
	rest := strings.TrimPrefix(owner, firstTwoLabels(owner))
	return strings.ToLower(strings.TrimSuffix(rest, "."))
}

// inScope reports whether a target may be probed at all. With scope zones (the default) only names under
// the block's zones are; with CIDRs the monitor checks every resolved address against them.
func (h *Handler) inScope(target string) bool {
	if h.cfg.Scope.Any || len(h.cfg.Scope.Prefixes) > 0 {
		return true
	}
	return underZones(target, h.cfg.Zones)
}

// requestInfo carries what rewrite did to the metadata functions, which the log plugin calls after the
// reply is written.
type requestInfo struct{ outcome outcome }

type infoKey struct{}

// Metadata implements metadata.Provider: srvhealth/dropped is the number of records dropped from this
// reply, srvhealth/policy the all-down policy applied (empty when none was).
func (h *Handler) Metadata(ctx context.Context, state request.Request) context.Context {
	if h.match(state.Req) == nil {
		return ctx
	}
	info := &requestInfo{}
	ctx = context.WithValue(ctx, infoKey{}, info)
	metadata.SetValueFunc(ctx, pluginName+"/dropped", func() string {
		n := 0
		for r, c := range info.outcome.dropped {
			if Reason(r) != Keep {
				n += c
			}
		}
		return strconv.Itoa(n)
	})
	metadata.SetValueFunc(ctx, pluginName+"/policy", func() string {
		if !info.outcome.allDown {
			return ""
		}
		return info.outcome.policy.String()
	})
	return ctx
}
