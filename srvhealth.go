// Package srvhealth is a CoreDNS plugin that keeps SIP and XMPP SRV answers pointing at live servers: it
// drops targets that are CNAMEs, have no address or are down, orders the rest by RFC 2782 priority and
// weight, and caps the TTL so that failover is fast.
package srvhealth

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/dnssec"
	"github.com/coredns/coredns/plugin/metadata"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
	ot "github.com/opentracing/opentracing-go"

	"github.com/srvhealth/srvhealth/fleet"
	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/policy"
)

// Handler is the srvhealth plugin.
type Handler struct {
	Next plugin.Handler

	cfg  *Config
	view View
	intn func(n int) int  // uniform random integer in [0, n); rand.IntN, or seeded in tests
	now  func() time.Time // time.Now, or fixed in tests

	signer       *dnssec.Dnssec    // the block's dnssec plugin, which signs what srvhealth changed; nil without one
	signsNext    bool              // the dnssec plugin is the next one: srvhealth has it sign DO answers once
	block        *dnsserver.Config // the server block srvhealth is in; nil in tests that build it by hand
	chaos        sync.Once         // works out ownChaos, once the block's chain is built
	ownChaos     bool              // no other plugin of the block opens the classes other than IN
	minimal      bool              // the block has minimal: srvhealth adds no addresses to the additional section
	monitor      *health.Monitor   // nil when view is a test fake
	reports      reporter          // what the status reads instead of monitor; set by tests
	statusFailed sync.Once         // logs the first status answer that could not be written
	warm         *warmer
	soa          soaCache    // SOAs for the negative answers srvhealth makes
	services     srvSets     // the targets behind the SRV names NAPTR records point at
	inst         *instance   // the caddy instance it belongs to; nil in tests that build it by hand
	fleet        *fleet.Link // the block's tie to the process's fleet member; nil without fleet
	memo         *memo       // what the query path keeps between answers; nil in tests that build it by hand
}

// Name implements plugin.Handler.
func (h *Handler) Name() string { return pluginName }

// ServeDNS implements plugin.Handler.
func (h *Handler) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) == 1 && r.Question[0].Qclass != dns.ClassINET {
		return h.serveOtherClass(ctx, w, r)
	}
	if svc := h.srvQuery(r); svc != nil {
		rw := writers.Get().(*responseWriter)
		rw.ResponseWriter, rw.h, rw.svc, rw.req, rw.ctx = w, h, svc, r, ctx
		next := h.Next
		if h.signsNext && !h.cfg.Shadow {
			if opt := r.IsEdns0(); opt != nil && opt.Do() {
				// The block's dnssec plugin comes right after srvhealth: ask the plugin after it for the
				// answer, and have dnssec sign what srvhealth serves, once (see resign).
				next, rw.sc.presign = h.signer.Next, true
			}
		}
		rc, err := h.pass(next, ctx, rw, r)
		rw.flush()
		rw.release()
		return rc, err
	}
	if addrs, ok := h.addressQuery(r); ok {
		rw := &addressWriter{ResponseWriter: w, h: h, req: r, ctx: ctx, addrs: addrs}
		return h.next(ctx, rw, r)
	}
	if h.naptrQuery(r) {
		rw := &naptrWriter{ResponseWriter: w, h: h, req: r, ctx: ctx}
		return h.next(ctx, rw, r)
	}
	return h.next(ctx, w, r)
}

// next passes the query on to the next plugin, which writes to w: plugin.NextOrFailure without the
// writer it wraps around w on every query (an allocation, and a layer every write goes through) where
// that writer can do nothing. It tells w which plugin wrote the answer, and only w itself: when w keeps
// that (plugin.PluginTracker, the metrics plugin's recorder) srvhealth calls NextOrFailure, and so it
// does when a trace span is open (NextOrFailure opens the next plugin's) or there is no next plugin.
// srvhealth's own writers keep nothing, so the intercepted queries never need it.
func (h *Handler) next(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	return h.pass(h.Next, ctx, w, r)
}

// pass is next with the plugin to pass the query to: h.Next, or the one after the block's dnssec.
func (h *Handler) pass(next plugin.Handler, ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if _, tracks := w.(plugin.PluginTracker); tracks || next == nil || ot.SpanFromContext(ctx) != nil {
		return plugin.NextOrFailure(pluginName, next, ctx, w, r)
	}
	return next.ServeDNS(ctx, w, r)
}

// serveOtherClass answers a question of a class other than IN. Nothing is filtered: an answer's class is
// its question's (RFC 1035 §4.1.1, RFC 2181 §6) and the health srvhealth knows is of IN data. The status
// (CH TXT) is answered for the clients it allows. When it is the status that opened the other classes on
// the server (no other plugin of the block answers them), every other such question gets the REFUSED the
// server would have given without it; the server writes it.
func (h *Handler) serveOtherClass(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if h.statusQuery(w, r) {
		return h.serveStatus(ctx, w, r)
	}
	if h.cfg.StatusAllow != nil && h.onlyChaos() {
		return dns.RcodeRefused, nil
	}
	return plugin.NextOrFailure(pluginName, h.Next, ctx, w, r)
}

// onlyChaos reports whether srvhealth's status is the only thing in its block that opens the classes
// other than IN: no other plugin of the block is one CoreDNS opens them for (chaos, forward...).
func (h *Handler) onlyChaos() bool {
	h.chaos.Do(func() {
		h.ownChaos = true
		if h.block == nil {
			return
		}
		for _, p := range h.block.Handlers() {
			if _, ok := dnsserver.EnableChaos[p.Name()]; ok && p.Name() != chaosGateName {
				h.ownChaos = false
			}
		}
	})
	return h.ownChaos
}

// srvQuery returns the configured service an SRV query is for, or nil when the query is not one.
func (h *Handler) srvQuery(r *dns.Msg) *Service {
	if len(r.Question) != 1 || r.Question[0].Qtype != dns.TypeSRV || r.Question[0].Qclass != dns.ClassINET {
		return nil
	}
	return h.cfg.match(r.Question[0].Name)
}

// match returns the configured service an SRV name under the zones is for, or nil. It does not allocate:
// it runs on every SRV query.
func (c *Config) match(name string) *Service {
	if !underZones(name, c.Zones) {
		return nil
	}
	for i := range c.Services {
		s := &c.Services[i]
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
		if len(name) == len(z) || labelBoundary(name, len(name)-len(z)-1) {
			return true
		}
	}
	return false
}

// labelBoundary reports whether name[i] is a dot that ends a label: in presentation format "x\.example"
// is one label, so a dot after an odd number of backslashes is part of the label, not a boundary.
func labelBoundary(name string, i int) bool {
	if name[i] != '.' {
		return false
	}
	n := 0
	for j := i - 1; j >= 0 && name[j] == '\\'; j-- {
		n++
	}
	return n%2 == 0
}

// responseWriter rewrites the next plugin's answer on its way to the client. Writers are pooled with the
// memory their rewrite works in (scratch).
//
// The answer is rewritten and written once the next plugin has returned, not inside its WriteMsg: the
// rewrite and the writing (packing, the plugins before srvhealth, the socket) then run on a stack without
// the next plugin's frames. A query runs in a goroutine of its own whose stack starts small and is copied
// to a larger one each time it runs out; done inside WriteMsg, on top of file's frames, the rewrite (its
// frame is over a kilobyte) took the stack deeper than file alone ever does, and the profile of the real
// server showed stack growth at 14.6% of its samples against file's 11.4%. Nothing else changes: the
// plugins after srvhealth ignore what WriteMsg returns (file, cache, forward), and a second answer
// written by the same plugin sends the first on its way before it is kept.
type responseWriter struct {
	dns.ResponseWriter
	h       *Handler
	svc     *Service
	req     *dns.Msg
	ctx     context.Context
	sc      scratch
	pending *dns.Msg // the answer the next plugin wrote, to rewrite and write once it returned
}

var writers = sync.Pool{New: func() any { return new(responseWriter) }}

// release lets go of what the writer refers to and returns it to the pool.
func (rw *responseWriter) release() {
	rw.sc.reset()
	*rw = responseWriter{sc: rw.sc}
	writers.Put(rw)
}

// scratch is the memory the rewrite of one answer works in that the answer does not refer to: the
// judged records and the SRV records. It is reused by the next query of a pooled writer. What the answer
// refers to (its sections, the copies of capped records) is never reused: the plugins before srvhealth
// may keep the answer past ServeDNS (log and prometheus read it through a recorder once it returned).
type scratch struct {
	js   []judged
	srvs []*dns.SRV
	// stableTTL caps the answer at max_ttl rather than the health-aware TTL, which changes every second;
	// outcome.ttl says the latter. For an answer about to be signed: see resign.
	stableTTL bool
	// presign: the answer comes from the plugin after the block's dnssec, unsigned, and must be signed by
	// it before it goes out, whether srvhealth changes it or not.
	presign bool
}

// reset empties s, dropping its references to records so that the pool keeps no answer alive.
func (s *scratch) reset() {
	clear(s.js)
	clear(s.srvs)
	s.js, s.srvs = s.js[:0], s.srvs[:0]
	s.presign = false
}

// WriteMsg implements dns.ResponseWriter: it keeps the answer, which ServeDNS writes (flush) once the
// next plugin returned.
func (rw *responseWriter) WriteMsg(res *dns.Msg) error {
	var err error
	if rw.pending != nil {
		err = rw.flush()
	}
	rw.pending = res
	return err
}

// flush rewrites the answer kept and writes it, if there is one.
func (rw *responseWriter) flush() error {
	res := rw.pending
	if res == nil {
		return nil
	}
	rw.pending = nil
	out, o := rw.h.rewrite(rw.ctx, rw.req, rw.h.input(res), rw.svc, &rw.sc)
	out = rw.h.output(res, out)
	server := metrics.WithServer(rw.ctx)
	c := counterSet(server)
	for reason, n := range o.dropped {
		if n > 0 {
			c.dropped[reason].Add(float64(n))
		}
	}
	if o.allDown {
		c.allDownOf(server, rw.svc).Inc()
	}
	allDownNames.note(server, rw.svc, rw.req.Question[0].Name, o, out)
	if o.signed {
		c.signed.Inc()
	}
	if info, ok := rw.ctx.Value(infoKey{}).(*requestInfo); ok {
		info.outcome = o
	}
	return rw.ResponseWriter.WriteMsg(out)
}

// input returns the answer a rewrite may work on: res itself, or in shadow mode a copy whose sections
// the rewrite may change (the records are never changed in place), so that res goes out as it came.
func (h *Handler) input(res *dns.Msg) *dns.Msg {
	if !h.cfg.Shadow || res == nil {
		return res
	}
	cp := *res
	cp.Answer, cp.Ns, cp.Extra = slices.Clone(res.Answer), slices.Clone(res.Ns), slices.Clone(res.Extra)
	return &cp
}

// output returns the answer to write: the rewritten one, or in shadow mode the one that came, unchanged
// (what would have been dropped is counted and reported all the same).
func (h *Handler) output(res, rewritten *dns.Msg) *dns.Msg {
	if h.cfg.Shadow {
		return res
	}
	return rewritten
}

// outcome is what rewrite did to one answer.
type outcome struct {
	dropped [policy.NumReasons]int // records dropped, by Reason
	allDown bool                   // nothing survived and policy was applied
	policy  Policy
	signed  bool   // the RRset was signed and the client asked for DNSSEC: reordered only
	ttl     uint32 // the health-aware TTL of a filtered answer; 0 for the other answers
}

// changed reports whether the answer no longer holds the RRset the upstream sent: records were dropped or
// the all-down policy replaced them.
func (o *outcome) changed() bool {
	for r, n := range o.dropped {
		if Reason(r) != Keep && n > 0 {
			return true
		}
	}
	return o.allDown && o.policy != ServeAll
}

// rewrite is the query path's pipeline: judge every target, filter, apply the all-down policy or order
// what is left, cap the TTL and fix the additional section. Answers it has no business changing are
// returned as they are.
func (h *Handler) rewrite(ctx context.Context, req, res *dns.Msg, svc *Service, sc *scratch) (*dns.Msg, outcome) {
	var o outcome
	if sc == nil {
		sc = new(scratch)
	}
	if sc.presign {
		sc.presign, sc.stableTTL = false, true
		out, o, ok := h.resign(ctx, *h.signer, req, res, svc, sc)
		sc.stableTTL = false
		if ok {
			return out, o
		}
		// dnssec does not sign this answer (a name outside its zones, a delegation with nothing to
		// sign): it would have passed it on as it came, and so it is rewritten as an unsigned answer.
	}
	srvs, signed := srvRecords(res, sc.srvs[:0])
	sc.srvs = srvs
	if len(srvs) == 0 {
		return res, o
	}
	if signed {
		if opt := req.IsEdns0(); opt != nil && opt.Do() {
			js := h.judge(srvs, svc, sc.js[:0])
			sc.js = js
			// Signing anew is only needed when records go; an answer that keeps them all is reordered
			// and TTL-capped, which its signatures allow, whoever made them.
			drops := slices.ContainsFunc(js, func(j judged) bool { return j.reason != Keep })
			if drops && h.signer != nil {
				if out, o, ok := h.resign(ctx, *h.signer, req, res, svc, nil); ok {
					return out, o
				}
			}
			o.signed = drops // signed elsewhere: records that should go had to stay
			return h.reorderSigned(res, srvs, js), o
		}
	}

	js, memo := h.judgeMemo(srvs, svc, sc.js[:0])
	sc.js = js
	allDown := filter(js, svc.AllDown)
	for _, j := range js {
		if !j.served {
			o.dropped[j.reason]++
		}
	}
	o.allDown, o.policy = allDown, svc.AllDown
	if !allDown {
		o.policy = ServeAll
	}
	if o.changed() {
		// RFC 4035 §3.2.3: AD says the answer is the data the upstream validated; a subset of it, or a
		// record made up here, is not.
		res.AuthenticatedData = false
	}
	if allDown && svc.AllDown != ServeAll {
		return h.allDownAnswer(ctx, req, res, srvs, js, svc.AllDown, signed), o
	}

	kept := srvs[:0] // srvs is ours; reuse it for the records served, in order
	for _, j := range js {
		if j.served {
			kept = append(kept, j.srv)
		}
	}
	order(kept, h.intn)
	o.ttl = healthTTL(js, h.now(), h.cfg.MinTTL, h.cfg.MaxTTL)
	ttl := o.ttl
	if sc.stableTTL {
		ttl = uint32(h.cfg.MaxTTL / time.Second)
	}
	c := memo.capper(ttl)
	// One buffer for both sections: the answer never grows, the additional section only by the addresses
	// fixAdditional adds, which then take a buffer of their own.
	buf := make([]dns.RR, 0, len(res.Answer)+len(res.Extra))
	answer := appendReplaced(buf[:0:len(res.Answer)], res.Answer, kept, signed)
	answer = answer[:len(answer):len(answer)] // whoever appends to the answer (dnssec) must not reach into Extra
	c.capAll(answer)
	if kept := memo.additional(res.Extra, c.ttl); kept != nil {
		res.Extra = append(buf[len(answer):len(answer)], kept...)
	} else {
		extra := fixAdditional(buf[len(answer):len(answer)], res.Extra, js, &c, allDown, !h.minimal)
		memo.keepAdditional(res.Extra, extra, c.ttl)
		res.Extra = extra
	}
	res.Answer = answer
	memo.keep(&c)
	return res, o
}

// reorderSigned serves a signed RRset whole: one signed elsewhere, a subset of which would fail
// validation, or one that keeps every record anyway. Its order is free (RFC 4034 §6.3) and its TTL may be
// lowered (a validator takes the lesser of the TTL and the RRSIG's original TTL, RFC 4035 §5.3.3), so it is
// reordered and its TTL capped as if every record were served; js are its records, judged.
func (h *Handler) reorderSigned(res *dns.Msg, srvs []*dns.SRV, js []judged) *dns.Msg {
	for i := range js {
		js[i].served = true
	}
	c := capper{ttl: healthTTL(js, h.now(), h.cfg.MinTTL, h.cfg.MaxTTL)}
	order(srvs, h.intn)
	res.Answer = replaceSRVs(res.Answer, srvs, false)
	c.capAll(res.Answer)
	return res
}

// srvRecords returns the SRV records of an answer srvhealth may change, and whether an RRSIG covers them;
// none when the answer is not one to change: not NOERROR, truncated, no SRV, or the RFC 2782 "decidedly
// not available" target, which is the zone owner's word.
// The records are appended to buf.
func srvRecords(res *dns.Msg, buf []*dns.SRV) (srvs []*dns.SRV, signed bool) {
	if res == nil || res.Rcode != dns.RcodeSuccess || res.Truncated {
		return nil, false
	}
	srvs = buf
	for _, rr := range res.Answer {
		switch rr := rr.(type) {
		case *dns.SRV:
			if rr.Target == "." {
				return srvs[:0], false
			}
			srvs = append(srvs, rr)
		case *dns.RRSIG:
			signed = signed || rr.TypeCovered == dns.TypeSRV
		}
	}
	return srvs, signed
}

// judge looks every in-scope target up in the health view (registering the ones it does not know) and
// decides what happens to its record. The judged records are appended to buf.
func (h *Handler) judge(srvs []*dns.SRV, svc *Service, buf []judged) []judged {
	js, _ := h.judgeMemo(srvs, svc, buf)
	return js
}

// judgeEach is judge without the memory (see memo.go): every target looked up. With refs (as long as
// srvs), it asks the view for the Ref of each in-scope target too. monitored reports whether the view
// knows every in-scope target (none was refused at max_targets).
func (h *Handler) judgeEach(srvs []*dns.SRV, svc *Service, buf []judged, refs []health.Ref) (js []judged, monitored bool) {
	domain := serviceDomain(srvs[0].Hdr.Name)
	js = slices.Grow(buf[:0], len(srvs))[:len(srvs)]
	clear(js)
	monitored = true
	for i, s := range srvs {
		js[i].srv = s
		target := strings.ToLower(s.Target)
		if h.inScope(s.Target) {
			k := health.NewKey(s.Target, s.Port, svc.Method, domain)
			if refs != nil {
				js[i].status, refs[i], js[i].known = h.view.(refView).CheckRef(k, domain)
			} else {
				js[i].status, js[i].known = h.view.Check(k, domain)
			}
			monitored = monitored && js[i].known
		}
		// A drain is the operator's word and holds for targets out of the probe scope too.
		js[i].reason = h.cfg.Verdict(js[i].status, js[i].known, target, s.Port)
	}
	return js, monitored
}

// allDownAnswer is the answer when every target was dropped and the policy is not serve_all. Its TTL is
// min_ttl, so that clients ask again soon, but never more than the upstream gave the records it replaces.
func (h *Handler) allDownAnswer(ctx context.Context, req, res *dns.Msg, srvs []*dns.SRV, js []judged, policy Policy, signed bool) *dns.Msg {
	ttl := uint32(h.cfg.MinTTL / time.Second)
	for _, s := range srvs {
		ttl = min(ttl, s.Hdr.Ttl)
	}
	switch policy {
	case ServFail:
		res.Rcode = dns.RcodeServerFailure
		res.Answer, res.Ns = nil, nil
		res.Extra = onlyOPT(res.Extra)
	case NoData:
		res.Answer = replaceSRVs(res.Answer, nil, signed)
		res.Ns = nil
		res.Extra = onlyOPT(res.Extra)
		// The records denied are those at the end of a CNAME chain, and RFC 2308 §2.2 wants the SOA of
		// that name's zone, not of the alias the client asked for.
		ask := h.chain().query
		if soa := h.soa.get(ctx, parentOfService(srvs[0].Hdr.Name), h.now(), ask); soa != nil {
			res.Ns = []dns.RR{negativeSOA(soa, ttl)}
		}
	case Unavailable:
		res.Answer = replaceSRVs(res.Answer, nil, signed)
		res.Answer = append(res.Answer, &dns.SRV{
			Hdr:    dns.RR_Header{Name: srvs[0].Hdr.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: ttl},
			Target: ".",
		})
		res.Extra = fixAdditional(make([]dns.RR, 0, len(res.Extra)), res.Extra, js, &capper{ttl: ttl}, false, !h.minimal)
	}
	return res
}

// replaceSRVs returns a new answer section with the SRV records of answer replaced by srvs, in srvs'
// order, after every other record (a CNAME chain leading to them). With dropSigs, RRSIGs over SRV go too:
// they no longer cover the RRset and the client did not ask for them.
func replaceSRVs(answer []dns.RR, srvs []*dns.SRV, dropSigs bool) []dns.RR {
	return appendReplaced(make([]dns.RR, 0, len(answer)), answer, srvs, dropSigs)
}

// appendReplaced is replaceSRVs appending to out.
func appendReplaced(out, answer []dns.RR, srvs []*dns.SRV, dropSigs bool) []dns.RR {
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
	return strings.ToLower(strings.TrimSuffix(parentOfService(owner), "."))
}

// parentOfService returns the name an SRV name is under: "example.com." of "_sip._tcp.example.com.".
func parentOfService(owner string) string { return strings.TrimPrefix(owner, firstTwoLabels(owner)) }

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
	if h.srvQuery(state.Req) == nil {
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

// accepts reports whether a key the fleet speaks of belongs in this block's table: a probe of one of the
// block's services, and a target the block may probe. Another block of the same fleet member keeps its
// own.
func (h *Handler) accepts(k health.Key) bool {
	if !h.inScope(k.Target) {
		return false
	}
	for _, s := range h.cfg.Services {
		if s.Method == k.Method {
			return true
		}
	}
	return false
}
