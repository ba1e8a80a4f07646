package srvhealth

import (
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/policy"
)

// View is the health state the query path reads. *health.Monitor implements it; Check must be cheap and
// must never block or touch the network.
type View interface {
	// Check registers a target seen in an answer (or refreshes it) and returns what is known of it;
	// false if nothing is.
	Check(k health.Key, domain string) (health.Status, bool)
	// Addresses returns what the probes of every key of a target name (lower case, fully qualified) say
	// of its addresses; false when the name is no target. It must not allocate for a name that is not.
	Addresses(target string) (health.Addresses, bool)
}

// Reason is why a record was dropped, or keep: the record policy's verdict, named here as the query path
// uses it.
type Reason = policy.Reason

// The verdicts on one SRV record; see package policy.
const (
	Keep          = policy.Keep
	DropDown      = policy.DropDown
	DropCNAME     = policy.DropCNAME
	DropNoAddress = policy.DropNoAddress
	DropDrained   = policy.DropDrained
)

// judged is one SRV record of an answer with what the health view says of its target.
type judged struct {
	srv     *dns.SRV
	status  health.Status
	known   bool // the view knows the target (in scope, monitored)
	reason  Reason
	served  bool // set by filter
	inExtra bool // the additional section has an address of the target; set by fixAdditional
}

// filter marks the records of js to serve and reports whether the all-down policy applies: the record
// policy's selection (policy.Select) over the judged records.
func filter(js []judged, p Policy) (allDown bool) {
	return policy.Select(len(js), func(i int) Reason { return js[i].reason }, func(i int) { js[i].served = true }, p)
}

// healthTTL returns the TTL for an answer made of the served records: at most maxTTL, lowered to the time
// until the soonest possible state change of a served target (gdnsd's model), but never below minTTL.
func healthTTL(js []judged, now time.Time, minTTL, maxTTL time.Duration) uint32 {
	d := maxTTL
	for i := range js {
		if j := &js[i]; j.served && j.known {
			if u := soonestChange(j.status, now); !u.IsZero() && u.Sub(now) < d {
				d = u.Sub(now)
			}
		}
	}
	if d < minTTL {
		d = minTTL
	}
	return uint32(d / time.Second)
}

// soonestChange returns the soonest time a monitored target with status st could change state; zero when
// probing cannot change it. A target not resolved yet (just registered, or its resolution keeps failing)
// has had no probe round: it counts as up until its first one, which may find it down at any moment, so
// it could change now, whatever Until says (the monitor's first snapshot of a target has none).
func soonestChange(st health.Status, now time.Time) time.Time {
	if !st.Resolved {
		return now
	}
	return st.Until
}

// capper lowers TTLs to at most ttl. A record that must change is copied: backends such as file hand out
// records straight from their zone tree, so they must never be modified in place. The copies of the types
// an answer is made of come from one batch per type, so capping an answer costs an allocation per record
// type, not per record; they are shallow (nobody modifies the rdata of these types), and never modified
// once made, so that the copies kept from an earlier answer at the same TTL (kept) serve again.
type capper struct {
	ttl    uint32
	srvs   []dns.SRV
	as     []dns.A
	aaaas  []dns.AAAA
	kept   *copies     // copies made for earlier answers, at their TTL; nil without
	record bool        // remember the copies made here in made
	made   [][2]dns.RR // the copies made here: original, copy
	found  int         // copies found in kept
}

func (c *capper) cap(rr dns.RR) dns.RR {
	if rr.Header().Ttl <= c.ttl {
		return rr
	}
	if cp := c.kept.lookup(rr, c.ttl); cp != nil {
		c.found++
		return cp
	}
	orig := rr
	var h *dns.RR_Header
	switch r := rr.(type) {
	case *dns.SRV:
		c.srvs = grow(c.srvs)
		c.srvs = append(c.srvs, *r)
		rr, h = &c.srvs[len(c.srvs)-1], &c.srvs[len(c.srvs)-1].Hdr
	case *dns.A:
		c.as = grow(c.as)
		c.as = append(c.as, *r)
		rr, h = &c.as[len(c.as)-1], &c.as[len(c.as)-1].Hdr
	case *dns.AAAA:
		c.aaaas = grow(c.aaaas)
		c.aaaas = append(c.aaaas, *r)
		rr, h = &c.aaaas[len(c.aaaas)-1], &c.aaaas[len(c.aaaas)-1].Hdr
	default:
		rr = dns.Copy(rr)
		h = rr.Header()
	}
	h.Ttl = c.ttl
	if c.record {
		c.made = append(c.made, [2]dns.RR{orig, rr})
	}
	return rr
}

// grow returns a batch with room for one more copy: s itself, or a new batch when s is full (records
// already handed out keep pointing into the old one).
func grow[T any](s []T) []T { return room(s, 1) }

// reserve makes room in the batches for the copies capping rrs may need, so that they take one
// allocation per type of just the size needed. With pick, only the records it picks (by index) count.
func (c *capper) reserve(rrs []dns.RR, pick func(i int) bool) {
	if c.kept != nil && c.kept.ttl == c.ttl {
		return // the copies are most likely kept; a record that is not takes a batch of its own
	}
	var srvs, as, aaaas int
	for i, rr := range rrs {
		if rr.Header().Ttl <= c.ttl || pick != nil && !pick(i) {
			continue
		}
		switch rr.(type) {
		case *dns.SRV:
			srvs++
		case *dns.A:
			as++
		case *dns.AAAA:
			aaaas++
		}
	}
	c.srvs = room(c.srvs, srvs)
	c.as = room(c.as, as)
	c.aaaas = room(c.aaaas, aaaas)
}

// room returns s, or a new batch when s has no room for n more.
func room[T any](s []T, n int) []T {
	if n == 0 || cap(s)-len(s) >= n {
		return s
	}
	return make([]T, 0, n)
}

// capAll caps every record of rrs in place of the slice (not of the records).
func (c *capper) capAll(rrs []dns.RR) {
	c.reserve(rrs, nil)
	for i, rr := range rrs {
		rrs[i] = c.cap(rr)
	}
}

// fixAdditional returns the additional section for an answer that serves the records of js marked served:
// address records of targets not served are removed, addresses the monitor knows to be down are removed,
// and the known-up addresses of a served target are added when the backend sent none for it. Every other
// record (OPT, glue of other names) stays as it was. With keepDown (serve_all when every target is down)
// the addresses of down targets stay too, since those targets are served. Without glue nothing is added
// (minimal is in the block: the backend's additional section was emptied on purpose). The section is
// appended to out, its TTLs capped by c.
func fixAdditional(out, extra []dns.RR, js []judged, c *capper, keepDown, glue bool) []dns.RR {
	// The addresses served are capped once they are all known (the first 64 of the section: capMask), so
	// that their copies take one allocation per type.
	start := len(out)
	var capMask uint64
	for _, rr := range extra {
		var ip []byte
		switch a := rr.(type) {
		case *dns.A:
			ip = a.A
		case *dns.AAAA:
			ip = a.AAAA
		default:
			out = append(out, rr)
			continue
		}
		// One pass over the targets: is this the address of a target at all, and of one that is served
		// with this address up? The same name may be the target of several records (other ports).
		name := rr.Header().Name
		target, served := false, false
		for i := range js {
			j := &js[i]
			if j.srv.Target != name && !strings.EqualFold(j.srv.Target, name) {
				continue
			}
			target = true
			if j.served && (keepDown || !isDownAddr(j.status, ip)) {
				served = true
				j.inExtra = true
			}
		}
		switch {
		case !target:
			out = append(out, rr)
		case served && len(out)-start < 64:
			capMask |= 1 << (len(out) - start)
			out = append(out, rr)
		case served:
			out = append(out, c.cap(rr))
		}
	}
	capped := out[start:]
	c.reserve(capped, func(i int) bool { return capMask&(1<<i) != 0 })
	for i := range capped {
		if capMask&(1<<i) != 0 {
			capped[i] = c.cap(capped[i])
		}
	}
	for i := range js {
		j := &js[i]
		if !glue {
			break
		}
		// The addresses of a CNAME target belong to the name it points to; written at the alias's own
		// name they would be data the zone does not have.
		if !j.served || j.inExtra || !j.known || j.status.CNAME || len(j.status.Up) == 0 || addedBefore(js[:i], j.srv.Target) {
			continue
		}
		ttl := c.ttl
		if j.status.Resolved {
			ttl = min(ttl, j.status.AddrTTL) // never longer than the address records' own TTL
		}
		for _, a := range j.status.Up {
			hdr := dns.RR_Header{Name: j.srv.Target, Class: dns.ClassINET, Ttl: ttl}
			if a.Is4() {
				hdr.Rrtype = dns.TypeA
				out = append(out, &dns.A{Hdr: hdr, A: a.AsSlice()})
			} else {
				hdr.Rrtype = dns.TypeAAAA
				out = append(out, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
	}
	return out
}

// addedBefore reports whether a served record before this one has the same target, whose addresses the
// additional section then already carries.
func addedBefore(js []judged, target string) bool {
	for i := range js {
		if js[i].served && strings.EqualFold(js[i].srv.Target, target) && (js[i].inExtra || js[i].known && !js[i].status.CNAME && len(js[i].status.Up) > 0) {
			return true
		}
	}
	return false
}

// isDownAddr reports whether ip (4 or 16 bytes, as miekg/dns holds it) is one of st's down addresses.
func isDownAddr(st health.Status, ip []byte) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && downAddr(st.Down, a.Unmap())
}
