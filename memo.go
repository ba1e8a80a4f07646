package srvhealth

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/policy"
)

// The query path's memory. Most answers srvhealth rewrites are the ones it rewrote a moment ago: the same
// SRV RRset from the same zone, judged against the same health state. What stays the same until the
// RRset or the state of one of its targets changes is kept per owner name:
//
//   - the verdicts on its records (judge's work: a table lookup per target, which hashes the key, and a
//     copy of its state), checked per query by comparing the targets and ports and asking the monitor
//     whether each target's state is still the one judged (health.Monitor.Recheck: no lookup, no copy,
//     and the sighting that keeps the target in the table, as Check gives it);
//   - the copies of its records with the TTL lowered (a record from the backend is never changed in
//     place), for the TTL of the moment, so that an answer capped at the same TTL takes the same copies.
//
// Only the weighted order is drawn anew for every query. The memory is a set-associative cache of
// memoSlots owner names, each of at most memoMaxRecords SRV records and memoMaxCopies copies: a name
// takes a way of the set its hash picks, replacing one of the others when the set is full. What it can
// hold is so bounded (memoBound) whatever names queriers or upstreams send, and a name it does not hold
// costs what it cost without it.

const (
	memoSlots      = 1024 // owner names kept: memoWays to a set, the set picked by the name's hash
	memoWays       = 4    // so that a few names of the same set do not keep evicting each other
	memoMaxRecords = 16   // SRV records of an RRset whose verdicts are kept; larger RRsets are judged every time
	memoMaxCopies  = 32   // TTL-capped copies kept per owner name (answer and additional sections)
)

// refView is a View that hands out Refs: *health.Monitor. Fakes in tests without it are judged anew for
// every answer.
type refView interface {
	CheckRef(k health.Key, domain string) (health.Status, health.Ref, bool)
	Recheck(refs []health.Ref) bool
}

// memo is a server block's memory of the answers it rewrote: a set-associative cache of verdicts.
type memo struct {
	seed  maphash.Seed
	slots [memoSlots]atomic.Pointer[verdicts]
	next  atomic.Uint32 // picks the way a new name takes in a full set
}

func newMemo() *memo { return &memo{seed: maphash.MakeSeed()} }

// find returns the verdicts kept for owner, or nil, and the hash of owner.
func (m *memo) find(owner string) (*verdicts, uint64) {
	hash := maphash.String(m.seed, owner)
	set := m.set(hash)
	for i := range set {
		if v := set[i].Load(); v != nil && v.hash == hash && v.owner == owner {
			return v, hash
		}
	}
	return nil, hash
}

// store keeps v, in place of the verdicts of the same owner, or in an empty way of its set, or in place
// of one of the set's others.
func (m *memo) store(v *verdicts) {
	set := m.set(v.hash)
	for i := range set {
		if old := set[i].Load(); old == nil || old.hash == v.hash && old.owner == v.owner {
			set[i].Store(v)
			return
		}
	}
	set[m.next.Add(1)%memoWays].Store(v)
}

func (m *memo) set(hash uint64) []atomic.Pointer[verdicts] {
	i := hash % (memoSlots / memoWays) * memoWays
	return m.slots[i : i+memoWays]
}

// verdicts is what judge found for the SRV RRset of one owner name. It is never modified once stored, but
// for copies, which is replaced.
type verdicts struct {
	hash   uint64 // of owner
	owner  string
	svc    *Service
	recs   []srvID      // the records judged, in the upstream's order
	js     []judged     // their verdicts; srv is set from the answer at hand
	refs   []health.Ref // the monitor's entry of each in-scope target; zero for the others
	copies atomic.Pointer[copies]
	// extra is the additional section made for the last answer, at the TTL of its copies.
	extra atomic.Pointer[additional]
	// fresh is set once an answer at the TTL of the copies found none of its records among them: the
	// upstream hands out new records for every answer (cache does), so neither copies nor additional
	// sections are kept. The verdicts are replaced with the next change of a target's state (every probe
	// round), which clears it.
	fresh atomic.Bool
}

// additional is the additional section fixAdditional made of the section in at ttl. It depends on
// nothing else that can change while the verdicts hold: which records are served is the verdicts'.
type additional struct {
	ttl uint32
	in  []dns.RR
	out []dns.RR
}

// additional returns the additional section kept for extra at ttl, or nil.
func (v *verdicts) additional(extra []dns.RR, ttl uint32) []dns.RR {
	if v == nil {
		return nil
	}
	a := v.extra.Load()
	if a == nil || a.ttl != ttl || len(a.in) != len(extra) {
		return nil
	}
	for i, rr := range extra {
		if a.in[i] != rr {
			return nil
		}
	}
	return a.out
}

// keepAdditional keeps out, the additional section made of extra at ttl, unless the upstream hands out
// new records for every answer.
func (v *verdicts) keepAdditional(extra, out []dns.RR, ttl uint32) {
	if v == nil || v.fresh.Load() || len(extra) > memoMaxCopies {
		return
	}
	if old := v.extra.Load(); old != nil && old.ttl == ttl {
		v.fresh.Store(true) // kept at this TTL, yet not the same records
		return
	}
	v.extra.Store(&additional{ttl: ttl, in: slices.Clone(extra), out: slices.Clip(slices.Clone(out))})
}

// srvID is what a verdict depends on in an SRV record.
type srvID struct {
	target string
	port   uint16
}

// matches reports whether v was judged for the records srvs of owner under svc.
func (v *verdicts) matches(svc *Service, srvs []*dns.SRV) bool {
	if v.svc != svc || len(v.recs) != len(srvs) {
		return false
	}
	for i, s := range srvs {
		if v.recs[i].port != s.Port || v.recs[i].target != s.Target {
			return false
		}
	}
	return true
}

// copies are TTL-capped copies of records, all at one TTL: to[i] is from[i] at ttl.
type copies struct {
	ttl  uint32
	from []dns.RR
	to   []dns.RR
}

// lookup returns the copy of rr at ttl, or nil.
func (c *copies) lookup(rr dns.RR, ttl uint32) dns.RR {
	if c == nil || c.ttl != ttl {
		return nil
	}
	for i, f := range c.from {
		if f == rr {
			return c.to[i]
		}
	}
	return nil
}

// judgeMemo is judge with the memory: the verdicts kept for srvs' owner when they still hold, else judged
// and kept. It returns the verdicts it used or kept (nil when none), whose copies the capper then uses.
func (h *Handler) judgeMemo(srvs []*dns.SRV, svc *Service, buf []judged) ([]judged, *verdicts) {
	rv, ok := h.view.(refView)
	if !ok || h.memo == nil {
		js, _ := h.judgeEach(srvs, svc, buf, nil)
		return js, nil
	}
	owner := srvs[0].Hdr.Name
	v, hash := h.memo.find(owner)
	if v != nil && v.matches(svc, srvs) && rv.Recheck(v.refs) {
		js := append(buf[:0], v.js...)
		for i := range js {
			js[i].srv = srvs[i]
		}
		return js, v
	}
	if len(srvs) > memoMaxRecords {
		js, _ := h.judgeEach(srvs, svc, buf, nil)
		return js, nil
	}
	refs := make([]health.Ref, len(srvs))
	js, monitored := h.judgeEach(srvs, svc, buf, refs)
	if !monitored {
		return js, nil // a target the monitor refused: ask again next time, as judge does
	}
	v = &verdicts{hash: hash, owner: owner, svc: svc, recs: make([]srvID, len(srvs)), js: make([]judged, len(js)), refs: refs}
	for i, j := range js {
		v.recs[i] = srvID{j.srv.Target, j.srv.Port}
		v.js[i] = j
		v.js[i].srv = nil // the answer's own records are set on use; keep none alive here
	}
	h.memo.store(v)
	return js, v
}

// capper returns a capper at ttl with v's copies, which keeps the copies it makes for keep.
func (v *verdicts) capper(ttl uint32) capper {
	if v == nil || v.fresh.Load() {
		return capper{ttl: ttl}
	}
	return capper{ttl: ttl, kept: v.copies.Load(), record: true}
}

// keep stores the copies c made (with those it found) as v's copies at c's TTL, within memoMaxCopies.
func (v *verdicts) keep(c *capper) {
	if v == nil || !c.record || len(c.made) == 0 {
		return
	}
	n := &copies{ttl: c.ttl}
	if old := c.kept; old != nil && old.ttl == c.ttl {
		if c.found == 0 {
			v.fresh.Store(true)
			return
		}
		n.from, n.to = append(n.from, old.from...), append(n.to, old.to...)
	}
	for _, p := range c.made {
		if len(n.from) == memoMaxCopies {
			break
		}
		n.from, n.to = append(n.from, p[0]), append(n.to, p[1])
	}
	v.copies.Store(n)
}

// counters are a server's series of the query path's counters, looked up once: WithLabelValues hashes its
// labels on every call.
type counters struct {
	dropped [policy.NumReasons]prometheus.Counter
	signed  prometheus.Counter
	allDown sync.Map // serviceSeries -> prometheus.Counter
}

// serviceSeries names an all_down_total series of a server: the service and its all-down policy.
type serviceSeries struct {
	service string
	policy  Policy
}

var serverCounters sync.Map // server -> *counters

// counterSet returns server's counters.
func counterSet(server string) *counters {
	if c, ok := serverCounters.Load(server); ok {
		return c.(*counters)
	}
	c := &counters{signed: signedCount.WithLabelValues(server)}
	for r := range c.dropped {
		c.dropped[r] = droppedCount.WithLabelValues(server, Reason(r).String())
	}
	got, _ := serverCounters.LoadOrStore(server, c)
	return got.(*counters)
}

// allDownOf returns the all_down_total series of svc under its policy.
func (c *counters) allDownOf(server string, svc *Service) prometheus.Counter {
	k := serviceSeries{serviceName(svc), svc.AllDown}
	if x, ok := c.allDown.Load(k); ok {
		return x.(prometheus.Counter)
	}
	x, _ := c.allDown.LoadOrStore(k, allDownCount.WithLabelValues(server, k.service, k.policy.String()))
	return x.(prometheus.Counter)
}

// memoBound is the most heap the memory of one server block holds: memoSlots names, each with the
// verdicts on at most memoMaxRecords records (a copy of the target's state, a Ref, its target and port)
// and memoMaxCopies copies, with the records they were copied from (kept alive by the comparison that
// finds them). TestMemoBoundedUnderFlood fills it with the largest RRsets it keeps (16 records, 48
// addresses) and measures 10.7 MiB; the names of a real provider (70 in bench/run's zone) take about
// 10 KiB each at most.
const memoBound = 12 << 20
