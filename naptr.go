package srvhealth

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin/metrics"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

// NAPTR, RFC 3263 §4.1. SIP clients that do the full RFC 3263 lookup (Asterisk/PJSIP, SBCs, carrier
// equipment) ask NAPTR first and take the transport of the most preferred record they support, e.g.
// "SIPS+D2T" -> _sips._tcp. When every target behind that SRV name is down they still pick it and fail.
// srvhealth drops such records, unless that would leave none: the SRV names are resolved through the
// chain in the background, their targets join the monitor, and the query path only reads their state.

// naptrQuery reports whether r is a NAPTR query (class IN) under the zones.
func (h *Handler) naptrQuery(r *dns.Msg) bool {
	return len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeNAPTR && r.Question[0].Qclass == dns.ClassINET &&
		underZones(r.Question[0].Name, h.cfg.Zones)
}

// naptrWriter rewrites the next plugin's NAPTR answer on its way to the client.
type naptrWriter struct {
	dns.ResponseWriter
	h   *Handler
	req *dns.Msg
	ctx context.Context
}

// WriteMsg implements dns.ResponseWriter.
func (w *naptrWriter) WriteMsg(res *dns.Msg) error {
	out, dropped := w.h.rewriteNAPTR(w.req, w.h.input(res))
	out = w.h.output(res, out)
	if dropped > 0 {
		naptrDroppedCount.WithLabelValues(metrics.WithServer(w.ctx)).Add(float64(dropped))
	}
	return w.ResponseWriter.WriteMsg(out)
}

// rewriteNAPTR drops the NAPTR records whose replacement is the SRV name of a configured service whose
// every target is down, unless none would be left; it caps the TTL as for SRV answers when a record
// points at a monitored service. The order and preference fields are never touched. It returns the
// answer and the number of records dropped.
func (h *Handler) rewriteNAPTR(req, res *dns.Msg) (*dns.Msg, int) {
	if res == nil || res.Rcode != dns.RcodeSuccess || res.Truncated {
		return res, 0
	}
	naptrs, signed := 0, false
	for _, rr := range res.Answer {
		switch rr := rr.(type) {
		case *dns.NAPTR:
			naptrs++
		case *dns.RRSIG:
			signed = signed || rr.TypeCovered == dns.TypeNAPTR
		}
	}
	if naptrs == 0 {
		return res, 0
	}
	if opt := req.IsEdns0(); signed && opt != nil && opt.Do() {
		return res, 0 // a subset of a signed RRset fails validation
	}

	now := h.now()
	soonest := now.Add(h.cfg.MaxTTL)
	var dead []string // replacements whose services are down
	monitored := false
	for _, rr := range res.Answer {
		n, ok := rr.(*dns.NAPTR)
		if !ok {
			continue
		}
		svc := h.cfg.match(n.Replacement)
		if svc == nil {
			continue
		}
		monitored = true
		down, until := h.services.dead(h, n.Replacement, svc)
		if down {
			dead = append(dead, strings.ToLower(n.Replacement))
		}
		if !until.IsZero() && until.Before(soonest) {
			soonest = until
		}
	}
	if !monitored {
		return res, 0
	}
	isDead := func(rr dns.RR) bool {
		n, ok := rr.(*dns.NAPTR)
		return ok && containsFold(dead, n.Replacement)
	}
	orphaned := orphans(res.Answer, isDead)
	drop := func(rr dns.RR) bool {
		return isDead(rr) && !slices.Contains(orphaned, naptrApp(rr.(*dns.NAPTR).Service))
	}
	if len(dead) > 0 && !slices.ContainsFunc(res.Answer, drop) {
		return res, 0 // every transport is down: the client's own failover is all that is left
	}
	c := capper{ttl: uint32(max(soonest.Sub(now), h.cfg.MinTTL) / time.Second)}
	answer := make([]dns.RR, 0, len(res.Answer))
	var gone []string // the replacements of the records dropped
	for _, rr := range res.Answer {
		if drop(rr) {
			gone = append(gone, rr.(*dns.NAPTR).Replacement)
			continue
		}
		answer = append(answer, rr)
	}
	c.capAll(answer)
	res.Answer = answer
	if len(gone) > 0 {
		res.AuthenticatedData = false // RFC 4035 §3.2.3: not the RRset the upstream validated
		res.Extra = h.naptrExtra(res.Extra, answer, gone)
	}
	return res, len(gone)
}

// naptrExtra returns the additional section of a NAPTR answer whose records pointing at the SRV names gone
// were dropped. RFC 3403 additional-section processing may have added those names' SRV records and the
// addresses of their targets: both go, except the addresses of a target that a record still in the answer
// leads to too (through an SRV record left in the section, or the targets known of its replacement).
func (h *Handler) naptrExtra(extra, answer []dns.RR, gone []string) []dns.RR {
	var dropped, kept []string // target names
	for _, rr := range extra {
		if s, ok := rr.(*dns.SRV); ok {
			if containsFold(gone, s.Hdr.Name) {
				dropped = append(dropped, s.Target)
			} else {
				kept = append(kept, s.Target)
			}
		}
	}
	for _, g := range gone {
		dropped = h.services.appendTargets(dropped, g)
	}
	for _, rr := range answer {
		if n, ok := rr.(*dns.NAPTR); ok {
			kept = h.services.appendTargets(kept, n.Replacement)
		}
	}
	out := make([]dns.RR, 0, len(extra))
	for _, rr := range extra {
		switch rr := rr.(type) {
		case *dns.SRV:
			if containsFold(gone, rr.Hdr.Name) {
				continue
			}
		case *dns.A, *dns.AAAA:
			if name := rr.Header().Name; containsFold(dropped, name) && !containsFold(kept, name) {
				continue
			}
		}
		out = append(out, rr)
	}
	return out
}

// orphans returns the applications of the dead records that no live record is left for: their dead
// records stay, since a client of that application would otherwise have nothing. RFC 3263 §4.1 clients use
// only the SIP records (SIP+D2U, SIPS+D2T...); a record of another application at the same owner
// (E2U+web:http, a Diameter S-NAPTR) is nothing to them, and does not count as a survivor for them.
func orphans(answer []dns.RR, isDead func(dns.RR) bool) []string {
	var out []string
	for _, rr := range answer {
		n, ok := rr.(*dns.NAPTR)
		if !ok || !isDead(rr) || slices.Contains(out, naptrApp(n.Service)) {
			continue
		}
		app := naptrApp(n.Service)
		alive := slices.ContainsFunc(answer, func(rr dns.RR) bool {
			o, ok := rr.(*dns.NAPTR)
			return ok && !isDead(rr) && naptrApp(o.Service) == app
		})
		if !alive {
			out = append(out, app)
		}
	}
	return out
}

// naptrApp is the application of a NAPTR service field: "sip" for the RFC 3263 SIP and SIPS services,
// otherwise what comes before the first "+" (RFC 3958 S-NAPTR "aaa+ap1:diameter.tcp", ENUM "E2U+sip"),
// lower case.
func naptrApp(service string) string {
	app, _, _ := strings.Cut(strings.ToLower(service), "+")
	if app == "sips" {
		return "sip"
	}
	return app
}

func containsFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}

// srvSets knows, per SRV name that NAPTR records point at, the monitor keys of its targets. It learns them
// by resolving the name through the chain in the background, again every interval while it is asked for;
// the query path never waits for that. It holds at most max_targets names; a name no NAPTR answer has
// named for expire is forgotten when a new one finds the table full, as the monitor forgets its targets.
// The zero value is ready; stop ends the resolutions in flight.
type srvSets struct {
	m     sync.Map // lower-case SRV name -> *srvSet
	n     atomic.Int64
	swept atomic.Int64 // unix nanoseconds of the last prune
	bg    sync.WaitGroup
	mu    sync.Mutex // guards ctx, cancel and stopped
	ctx   context.Context
	stop  context.CancelFunc
	done  bool
}

type srvSet struct {
	keys atomic.Pointer[[]health.Key] // nil before the first resolution
	due  atomic.Int64                 // unix nanoseconds of the next resolution
	busy atomic.Bool                  // a resolution is in flight
	seen atomic.Int64                 // unix nanoseconds of the last answer that named it, to the second
}

// appendTargets appends to out the targets known of the SRV name, as its last resolution found them.
func (s *srvSets) appendTargets(out []string, name string) []string {
	v, ok := s.m.Load(strings.ToLower(name))
	if !ok {
		return out
	}
	if keys := v.(*srvSet).keys.Load(); keys != nil {
		for _, k := range *keys {
			out = append(out, k.Target)
		}
	}
	return out
}

// dead reports whether every target of the SRV name is known and dropped (down, CNAME, no address), and
// the soonest time one of them could change state.
func (s *srvSets) dead(h *Handler, name string, svc *Service) (bool, time.Time) {
	set := s.get(h, name, svc)
	if set == nil {
		return false, time.Time{}
	}
	keys := set.keys.Load()
	if keys == nil {
		// Not resolved yet: its targets' first rounds may find them all down, as for an unprobed target.
		return false, h.now()
	}
	if len(*keys) == 0 {
		return false, time.Time{}
	}
	domain := serviceDomain(name)
	var until time.Time
	down := true
	for _, k := range *keys {
		st, known := h.view.Check(k, domain)
		if u := soonestChange(st, h.now()); known && !u.IsZero() && (until.IsZero() || u.Before(until)) {
			until = u
		}
		if h.cfg.Health(st, known) == Keep {
			down = false
		}
	}
	return down, until
}

// get returns the set of name, starting its resolution when it is new or due; nil when the table is full.
func (s *srvSets) get(h *Handler, name string, svc *Service) *srvSet {
	key := strings.ToLower(name)
	now := h.now().UnixNano()
	v, ok := s.m.Load(key)
	if !ok {
		if s.n.Load() >= int64(h.cfg.MaxTargets) && !s.prune(h, now) {
			return nil
		}
		v, ok = s.m.LoadOrStore(key, &srvSet{})
		if !ok {
			s.n.Add(1)
		}
	}
	set := v.(*srvSet)
	if now-set.seen.Load() >= int64(time.Second) { // a store per second at most: the line stays shared
		set.seen.Store(now)
	}
	if now >= set.due.Load() && set.busy.CompareAndSwap(false, true) {
		if !s.spawn(func(ctx context.Context) { s.resolve(ctx, h, key, svc, set) }) {
			set.busy.Store(false)
		}
	}
	return set
}

// prune forgets the names no answer has named for expire, and reports whether that made room. It sweeps
// the table at most once per interval, so a stream of new names against a full table costs one sweep per
// interval, not one per query; those names are refused in between.
func (s *srvSets) prune(h *Handler, now int64) bool {
	last := s.swept.Load()
	if now-last < int64(h.cfg.Interval) || !s.swept.CompareAndSwap(last, now) {
		return false
	}
	stale := now - int64(h.cfg.Expire)
	s.m.Range(func(k, v any) bool {
		if v.(*srvSet).seen.Load() < stale && s.m.CompareAndDelete(k, v) {
			s.n.Add(-1)
		}
		return true
	})
	return s.n.Load() < int64(h.cfg.MaxTargets)
}

// spawn runs f in a goroutine that stop waits for; false once stopped.
func (s *srvSets) spawn(f func(context.Context)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return false
	}
	if s.ctx == nil {
		s.ctx, s.stop = context.WithCancel(context.Background())
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f(s.ctx)
	}()
	return true
}

// close cancels the resolutions in flight and waits for them.
func (s *srvSets) close() {
	s.mu.Lock()
	s.done = true
	if s.stop != nil {
		s.stop()
	}
	s.mu.Unlock()
	s.bg.Wait()
}

// resolve asks the chain for name's SRV records and registers their in-scope targets with the monitor.
// A failed resolution keeps what was known and is tried again after one interval.
func (s *srvSets) resolve(ctx context.Context, h *Handler, name string, svc *Service, set *srvSet) {
	defer set.busy.Store(false)
	defer set.due.Store(h.now().Add(h.cfg.Interval).UnixNano())
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	m, err := h.chain().query(ctx, name, dns.TypeSRV)
	if err != nil || m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
		return
	}
	keys := []health.Key{}
	domain := serviceDomain(name)
	for _, rr := range m.Answer {
		srv, ok := rr.(*dns.SRV)
		if !ok || srv.Target == "." || !h.inScope(srv.Target) {
			continue
		}
		k := health.NewKey(srv.Target, srv.Port, svc.Method, domain)
		h.view.Check(k, domain) // registers the target for probing
		keys = append(keys, k)
	}
	set.keys.Store(&keys)
}
