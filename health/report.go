package health

import (
	"net/netip"
	"slices"
	"time"

	"github.com/srvhealth/srvhealth/probe"
)

// Report is what a Monitor knows of one target, for people: the status answers and the command.
type Report struct {
	Key    Key
	Domain string // the service domain its probes name
	Status Status
	Since  time.Time    // when it entered its state; zero before its first round
	Addrs  []AddrReport // the addresses probed in its last round, sorted
	// Prober is the fleet member whose round the state comes from; empty without a fleet.
	Prober string
}

// AddrReport is one probed address of a Report.
type AddrReport struct {
	Addr  netip.Addr
	State State
	Last  probe.Result // the last probe's result: reason and round-trip time
}

// Reports returns what the Monitor knows of each of its targets, in no particular order. It takes no
// lock: it reads the same immutable snapshots the query path does.
func (m *Monitor) Reports() []Report {
	var out []Report
	for i := range m.table.shards {
		for _, e := range *m.table.shards[i].m.Load() {
			out = append(out, e.report())
		}
	}
	return out
}

// Report returns what the Monitor knows of k, and false when k is not monitored.
func (m *Monitor) Report(k Key) (Report, bool) {
	e := m.table.get(k)
	if e == nil {
		return Report{}, false
	}
	return e.report(), true
}

func (e *entry) report() Report {
	s := e.snap.Load()
	r := Report{Key: e.key, Domain: e.domain, Status: s.status, Since: s.since, Prober: s.prober}
	for _, a := range s.addrs {
		r.Addrs = append(r.Addrs, AddrReport{Addr: a.addr, State: a.h.State, Last: a.last})
	}
	return r
}

// Addresses is what the probes of every key of one target name say of its addresses.
type Addresses struct {
	// Live are the target's addresses not known to be down: up in at least one key's last round, or not
	// probed (unknown counts as up). Down are those down in every key that probed them. Both sorted. Keys
	// probed with "none" check nothing and count for neither.
	Live, Down []netip.Addr
	// Until is the soonest time one of the keys could change state; zero when none can.
	Until time.Time
}

// Addresses returns what is known of the addresses of target (lower case, fully qualified) under any of
// its keys, and false when no key of the Monitor has that target. A name that is not a target costs a
// hash, an atomic load and a map lookup, with no lock and no allocation: it is asked for every A and AAAA
// query under the zones when filter_addresses is on.
func (m *Monitor) Addresses(target string) (Addresses, bool) {
	ne := m.table.named(target)
	if ne == nil {
		return Addresses{}, false
	}
	// Worked out once per change of the target's snapshots, not once per query: an A or AAAA query for a
	// target then costs a comparison of pointers.
	if mm := ne.memo.Load(); mm != nil && sameSnapshots(ne.es, mm.snaps) {
		return mm.a, true
	}
	snaps := make([]*snapshot, len(ne.es))
	for i, e := range ne.es {
		snaps[i] = e.snap.Load()
	}
	a := addresses(ne.es, snaps)
	ne.memo.Store(&addrMemo{snaps: snaps, a: a})
	return a, true
}

func sameSnapshots(es []*entry, snaps []*snapshot) bool {
	for i, e := range es {
		if e.snap.Load() != snaps[i] {
			return false
		}
	}
	return true
}

// addresses works out what the snapshots snaps of the entries es say of the target's addresses.
func addresses(es []*entry, snaps []*snapshot) Addresses {
	var a Addresses
	var all, up, down []netip.Addr
	for i, e := range es {
		s := snaps[i]
		all = append(all, s.res.Addrs...)
		if u := s.status.Until; !u.IsZero() && (a.Until.IsZero() || u.Before(a.Until)) {
			a.Until = u
		}
		if e.key.Method.Kind == probe.KindNone {
			continue // "no check" is no evidence that an address is alive
		}
		for _, st := range s.addrs {
			switch st.h.State {
			case Down:
				down = append(down, st.addr)
			default:
				up = append(up, st.addr)
			}
		}
	}
	slices.SortFunc(all, netip.Addr.Compare)
	for _, addr := range slices.Compact(all) {
		if slices.Contains(down, addr) && !slices.Contains(up, addr) {
			a.Down = append(a.Down, addr)
		} else {
			a.Live = append(a.Live, addr)
		}
	}
	return a
}
