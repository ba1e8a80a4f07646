package health

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/srvhealth/srvhealth/probe"
)

// addrHealth is the hysteresis of one address: its state and the current run of equal probe results.
// Flips are counted, never inferred (Caddy's fails/passes): a run is reset by the first opposite result,
// so flapping input never flips faster than the thresholds allow.
type addrHealth struct {
	State State
	Fails int // consecutive failures, capped at the fails threshold
	Rises int // consecutive successes, capped at the rises threshold
}

// next returns h after one probe result, with thresholds fails and rises (both at least 1).
//
// The first transitions of a new address: Unknown goes Up on its first success, because Unknown is already
// served as up, so a success changes nothing a client sees and waiting for `rises` would only delay the
// first Up; Unknown goes Down only after `fails` consecutive failures, exactly like Up, so one lost packet
// never hides a brand-new target.
func (h addrHealth) next(up bool, fails, rises int) addrHealth {
	if up {
		h.Fails = 0
		if h.Rises < rises {
			h.Rises++
		}
		if h.State == Unknown || h.Rises >= rises {
			h.State = Up
		}
		return h
	}
	h.Rises = 0
	if h.Fails < fails {
		h.Fails++
	}
	if h.Fails >= fails {
		h.State = Down
	}
	return h
}

// toDown is the number of probes, at the least, before h is down; 0 if it is.
func (h addrHealth) toDown(fails int) int {
	if h.State == Down {
		return 0
	}
	return max(1, fails-h.Fails)
}

// toUp is the number of probes, at the least, before h is up; 0 if it is.
func (h addrHealth) toUp(rises int) int {
	switch h.State {
	case Up:
		return 0
	case Unknown:
		return 1
	}
	return max(1, rises-h.Rises)
}

// targetState derives a target's state from its probed addresses: up while at least one address is up,
// down once every one is down, unknown otherwise (nothing probed, or unknown addresses and no up one).
func targetState(as []addrState) State {
	if len(as) == 0 {
		return Unknown
	}
	st := Down
	for _, a := range as {
		switch a.h.State {
		case Up:
			return Up
		case Unknown:
			st = Unknown
		}
	}
	return st
}

// checksToFlip is the number of probe rounds, at the least, before a target whose probed addresses are as
// could change state; 0 when probing cannot change it (nothing probed). An up target goes down only when
// every address that is not down has gone down; a down one comes up with its first address to come up; an
// unknown one can come up on the next success.
func checksToFlip(as []addrState, fails, rises int) int {
	if len(as) == 0 {
		return 0
	}
	switch targetState(as) {
	case Up:
		n := 0
		for _, a := range as {
			n = max(n, a.h.toDown(fails))
		}
		return n
	case Down:
		n := rises
		for _, a := range as {
			n = min(n, a.h.toUp(rises))
		}
		return n
	}
	return 1
}

// addrState is one probed address, its hysteresis and what its last probe said.
type addrState struct {
	addr netip.Addr
	h    addrHealth
	last probe.Result
}

// snapshot is everything known about one target after a round. It is immutable once published: readers
// load it through an atomic pointer and a round builds a new one, so the query path never takes a lock and
// never sees a half-updated target.
type snapshot struct {
	status Status
	res    Resolution  // the last successful resolution, addresses sorted and unique
	addrs  []addrState // the addresses probed in the last round, sorted
	since  time.Time   // when status.State was entered (the first round for a target never changed)
	prober string      // the fleet member whose round found it; empty without a fleet
	heard  time.Time   // when this process made or adopted it, on its own clock
}

// unprobed is the snapshot of a target nothing is known about yet.
var unprobed = &snapshot{}

// normalize returns r with its addresses unmapped, sorted and unique, in a slice of its own.
func normalize(r Resolution) Resolution {
	as := make([]netip.Addr, 0, len(r.Addrs))
	for _, a := range r.Addrs {
		if a.IsValid() {
			as = append(as, a.Unmap())
		}
	}
	slices.SortFunc(as, netip.Addr.Compare)
	r.Addrs = slices.Compact(as)
	return r
}

// pickAddrs returns the addresses of sorted to probe: at most max of those in scope, the lowest of each
// family, shared evenly between IPv4 and IPv6 (IPv4 takes the odd one) and the share a family cannot use
// given to the other. Every IPv4 address sorts before every IPv6 one, so taking the first max would leave
// the IPv6 addresses of a target with max IPv4 ones unprobed, counted as up, and served however dead.
func pickAddrs(sorted []netip.Addr, scope func(netip.Addr) bool, max int) []netip.Addr {
	var v4, v6 []netip.Addr
	for _, a := range sorted {
		if scope != nil && !scope(a) {
			continue
		}
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	n4 := min(len(v4), max-min(len(v6), max/2))
	n6 := min(len(v6), max-n4)
	if n4+n6 == 0 {
		return nil
	}
	return append(v4[:n4:n4], v6[:n6]...)
}

// round is what one round of a target found.
type round struct {
	start    time.Time
	res      Resolution     // normalized; meaningless unless resolved
	resolved bool           // false: the resolver failed and the previous resolution stands
	probed   []netip.Addr   // sorted
	results  []probe.Result // one per probed address
	deferred []bool         // one per probed address: not run (its server's budget was spent), no evidence
	why      string         // why nothing was probed although there were addresses (e.g. no prober)
}

// advance applies one round to the snapshot old and returns the new snapshot and, when the target's state
// changed, the reason for the change. It is pure, so the state machine is table-tested without goroutines
// or clocks.
func advance(c *Config, old *snapshot, r round) (*snapshot, string) {
	ns := &snapshot{res: old.res}
	if r.resolved {
		ns.res = r.res
	}
	ns.status.Resolved = old.status.Resolved || r.resolved
	ns.status.CNAME = ns.res.CNAME
	ns.status.NoAddress = ns.status.Resolved && len(ns.res.Addrs) == 0
	ns.status.AddrTTL = ns.res.TTL
	ns.status.Checked = r.start

	ns.addrs = make([]addrState, len(r.probed))
	for i, a := range r.probed {
		prev := addrState{addr: a}
		if j, ok := addrIndex(old.addrs, a); ok {
			prev = old.addrs[j]
		}
		if i < len(r.deferred) && r.deferred[i] {
			ns.addrs[i] = prev // a probe not run says nothing: the address stays as it was
			continue
		}
		ns.addrs[i] = addrState{addr: a, h: prev.h.next(r.results[i].Up, c.Fails, c.Rises), last: r.results[i]}
	}
	ns.status.State = targetState(ns.addrs)
	ns.since = old.since
	if ns.since.IsZero() || ns.status.State != old.status.State {
		ns.since = r.start
	}
	ns.splitUpDown()
	if n := checksToFlip(ns.addrs, c.Fails, c.Rises); n > 0 {
		ns.status.Until = r.start.Add(time.Duration(n) * c.Interval)
	}
	if ns.status.State == old.status.State {
		return ns, ""
	}
	return ns, changeReason(ns, r)
}

// addrIndex finds a in addrs, which are sorted by address.
func addrIndex(addrs []addrState, a netip.Addr) (int, bool) {
	return slices.BinarySearchFunc(addrs, a, func(s addrState, a netip.Addr) int { return s.addr.Compare(a) })
}

// splitUpDown sets the Up and Down addresses of ns's status from its resolution and its addresses'
// hysteresis: an address is down when its state is, up (or not probed yet) otherwise. A round (advance)
// and a state adopted from the fleet (adopted) work it out alike.
func (ns *snapshot) splitUpDown() {
	for _, a := range ns.res.Addrs {
		if j, ok := addrIndex(ns.addrs, a); ok && ns.addrs[j].h.State == Down {
			ns.status.Down = append(ns.status.Down, a)
		} else {
			ns.status.Up = append(ns.status.Up, a)
		}
	}
}

// changeReason says, for a log line, why the target reached the state of ns in round r.
func changeReason(ns *snapshot, r round) string {
	var b strings.Builder
	add := func(a netip.Addr, res probe.Result, def string) {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(a.String())
		b.WriteString(": ")
		if res.Reason != "" {
			b.WriteString(res.Reason)
		} else {
			b.WriteString(def)
		}
	}
	switch ns.status.State {
	case Down:
		for i, a := range r.probed {
			if !r.results[i].Up && (i >= len(r.deferred) || !r.deferred[i]) {
				add(a, r.results[i], "failed")
			}
		}
	case Up:
		for i, a := range r.probed {
			if r.results[i].Up {
				add(a, r.results[i], "up")
			}
		}
	default:
		switch {
		case !ns.status.Resolved:
			return "not resolved"
		case ns.status.NoAddress:
			return "no address"
		case r.why != "":
			return r.why
		case len(r.probed) == 0:
			return "no address in scope"
		}
		return "addresses changed"
	}
	return b.String()
}
