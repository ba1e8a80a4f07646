package health

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/srvhealth/srvhealth/probe"
)

// Sharer is the fleet as a Monitor sees it: several processes that split the probing of the targets
// between them and adopt what the others found (see the fleet package). A Monitor without one probes
// every target itself.
//
// The split follows admission. A target seen once is the member's own business, probed by it as without a
// fleet, so a flood of names sent to one member costs the others nothing. A kept target (asked for again)
// is the fleet's: its owners probe it and share each round, and the others adopt the result instead of
// probing, as long as they keep hearing of it.
type Sharer interface {
	// Name is this member's name, which the status shows as the prober of the rounds it ran.
	Name() string
	// Owns reports whether this member is one of k's probers in its current view of the fleet.
	Owns(k Key) bool
	// Share hands the fleet what a round of this member found about a kept target.
	Share(s Shared)
	// Want tells k's owners that this member keeps k (a client asked for it since its previous round)
	// and relies on them to probe it.
	Want(k Key, domain string)
	// Fallback reports a round this member runs of a kept target it does not own, for want of news of it
	// from the fleet within StaleAfter.
	Fallback(k Key)
	// Probers is the number of members that probe each kept target.
	Probers() int
}

// fleetUntil returns the Until of a state found in a round that started at start, whose owners' rounds
// interleave: with p probers a target is probed about p times an interval, so the checks still needed to
// flip it may come p times sooner than one member's interval says.
func fleetUntil(f Sharer, start, until time.Time) time.Time {
	if f == nil || until.IsZero() || f.Probers() <= 1 {
		return until
	}
	return start.Add(until.Sub(start) / time.Duration(f.Probers()))
}

// Shared is a target's state as one member's round found it, the unit the fleet carries. Checked, on the
// prober's clock, is its version: of two states of a key the one with the later Checked wins, and Prober
// breaks a tie, so merging states in any order leaves every member with the same one (see Newer).
type Shared struct {
	Key      Key
	Domain   string
	Prober   string
	Checked  time.Time
	Since    time.Time
	Resolved bool
	Res      Resolution
	Addrs    []SharedAddr // the addresses probed in that round, sorted
}

// SharedAddr is one probed address of a Shared state: its hysteresis and its last probe.
type SharedAddr struct {
	Addr   netip.Addr
	State  State
	Fails  int
	Rises  int
	Up     bool
	Reason string
	RTT    time.Duration
}

// Newer reports whether s supersedes o: a later Checked, or the same and a greater Prober. It is a strict
// total order on (Checked, Prober), so the newest of any set of states is the same whatever order they
// arrive in.
func (s *Shared) Newer(o *Shared) bool {
	if c := s.Checked.Compare(o.Checked); c != 0 {
		return c > 0
	}
	return s.Prober > o.Prober
}

// newerSnap is Newer for snapshots.
func newerSnap(a, b *snapshot) bool {
	if c := a.status.Checked.Compare(b.status.Checked); c != 0 {
		return c > 0
	}
	return a.prober > b.prober
}

// StaleAfter is how long a member keeps adopting a fleet's state of a kept target it does not own before it
// probes the target itself: longer than the state can stay true (interval x fails + timeout) by one more
// interval of slack, the time a round and its gossip may take. Dead owners or a partition so degrade to
// each member probing on its own, never to stale answers for longer than that.
func (c *Config) StaleAfter() time.Duration {
	return c.Interval*time.Duration(c.Fails+1) + c.Timeout
}

// share returns e's snapshot s as the fleet carries it.
func share(e *entry, s *snapshot) Shared {
	out := Shared{Key: e.key, Domain: e.domain, Prober: s.prober, Checked: s.status.Checked, Since: s.since,
		Resolved: s.status.Resolved, Res: s.res}
	for _, a := range s.addrs {
		out.Addrs = append(out.Addrs, SharedAddr{Addr: a.addr, State: a.h.State, Fails: a.h.Fails, Rises: a.h.Rises,
			Up: a.last.Up, Reason: a.last.Reason, RTT: a.last.Duration})
	}
	return out
}

// adopted returns the snapshot of the shared state s under c's settings, heard at now. Its status is
// worked out the way advance works it out, from the addresses' hysteresis, so a state adopted and one
// probed read alike.
func adopted(c *Config, s Shared, now time.Time) *snapshot {
	ns := &snapshot{res: normalize(s.Res), since: s.Since, prober: s.Prober, heard: now}
	ns.status.Resolved = s.Resolved
	ns.status.CNAME = ns.res.CNAME
	ns.status.NoAddress = s.Resolved && len(ns.res.Addrs) == 0
	ns.status.AddrTTL = ns.res.TTL
	ns.status.Checked = s.Checked
	for _, a := range s.Addrs {
		if !a.Addr.IsValid() {
			continue
		}
		h := addrHealth{State: a.State, Fails: min(max(a.Fails, 0), c.Fails), Rises: min(max(a.Rises, 0), c.Rises)}
		ns.addrs = append(ns.addrs, addrState{addr: a.Addr.Unmap(), h: h, last: probe.Result{Up: a.Up, Reason: a.Reason, Duration: a.RTT}})
	}
	slices.SortFunc(ns.addrs, func(a, b addrState) int { return a.addr.Compare(b.addr) })
	ns.addrs = slices.CompactFunc(ns.addrs, func(a, b addrState) bool { return a.addr == b.addr })
	ns.status.State = targetState(ns.addrs)
	ns.splitUpDown()
	if n := checksToFlip(ns.addrs, c.Fails, c.Rises); n > 0 {
		ns.status.Until = fleetUntil(c.Fleet, s.Checked, s.Checked.Add(time.Duration(n)*c.Interval))
	}
	return ns
}

// Adopt applies a state another member of the fleet found, unless the Monitor has a newer one. A key the
// Monitor does not hold is admitted first, through the same admission as a key seen once in an answer, and
// only if the Monitor's Accept takes it; adopting is not a sighting, so a key only the fleet speaks of
// expires after Expire. Adopting reports no event: the state is another member's finding, not a change
// this Monitor saw. It reports whether the state was applied.
func (m *Monitor) Adopt(s Shared) bool {
	if m.stopped.Load() || s.Checked.IsZero() || (m.cfg.Accept != nil && !m.cfg.Accept(s.Key)) {
		return false
	}
	e := m.table.get(s.Key)
	if e == nil {
		m.observeNew(s.Key, s.Domain, int64(time.Since(m.epoch)), false, true)
		if e = m.table.get(s.Key); e == nil {
			return false // refused at MaxTargets
		}
	}
	ns := adopted(&m.cfg, s, time.Now())
	e.reporting.Lock()
	defer e.reporting.Unlock()
	if e.gone.Load() {
		return false
	}
	old := e.snap.Load()
	if !old.status.Checked.IsZero() && !newerSnap(ns, old) {
		return false
	}
	e.snap.Store(ns)
	e.rec.last.Store(ns)
	if ns.status.Resolved && !old.status.Resolved {
		m.settled.broadcast()
	}
	if ns.status.State != old.status.State {
		m.ev.Adopted(s.Key, old.status.State, ns.status.State, s.Prober)
	}
	return true
}

// Want is another member's word that it keeps k and relies on this one, an owner of k, to probe it. It
// counts as a sighting of k, and admits k the way an answer naming it would, if Accept takes it.
func (m *Monitor) Want(k Key, domain string) {
	if m.stopped.Load() || (m.cfg.Accept != nil && !m.cfg.Accept(k)) {
		return
	}
	now := int64(time.Since(m.epoch))
	if e := m.table.get(k); e != nil {
		m.touch(e, now)
		return
	}
	m.observeNew(k, domain, now, false, false)
}

// Shared returns the states of the Monitor's kept targets that have been probed, by it or by the fleet:
// what a member that joins pulls. Targets seen once stay out, so a flood sent to one member stays there.
func (m *Monitor) Shared() []Shared {
	var out []Shared
	for i := range m.table.shards {
		for _, e := range *m.table.shards[i].m.Load() {
			s := e.snap.Load()
			if e.kept() && !s.status.Checked.IsZero() && !e.oos.Load() {
				out = append(out, share(e, s))
			}
		}
	}
	return out
}

// KeyString returns k as one string, "target port kind transport domain": a stable name for k that every
// member computes alike (rendezvous hashing, broadcast names).
func KeyString(k Key) string {
	var b strings.Builder
	b.Grow(len(k.Target) + len(k.Domain) + 24)
	b.WriteString(k.Target)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(int(k.Port)))
	b.WriteByte(' ')
	b.WriteString(string(k.Method.Kind))
	b.WriteByte(' ')
	b.WriteString(string(k.Method.Transport))
	b.WriteByte(' ')
	b.WriteString(k.Domain)
	return b.String()
}
