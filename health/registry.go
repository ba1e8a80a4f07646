package health

import (
	"sync"
	"sync/atomic"
	"time"
)

// reg is the process-wide memory of what every Monitor knows, keyed like the tables.
//
// On a Corefile reload CoreDNS starts the new plugin instance before it stops the old one, so health kept
// only inside a Monitor would be lost on every reload and every target would briefly count as unknown,
// dead ones included. Instead each Monitor publishes its latest snapshot of a target here, and a Monitor
// that starts watching a target copies the last snapshot any Monitor published rather than starting from
// Unknown. Monitors share the knowledge, not the work: each probes its own targets with its own settings,
// so two server blocks or two overlapping instances never update each other's counters.
//
// A record is held by the Monitors whose table has its key. When the last holder lets go:
//   - by expiry, the record goes too (nobody asked for the target for Expire);
//   - by Stop while other Monitors are running (a reload), it stays as an orphan for the rest of Expire
//     after the target was last observed, for the new instance to adopt as queries come in; a running
//     Monitor's sweep drops orphans older than that;
//   - by the last running Monitor's Stop, every record goes.
//
// So the registry holds at most the union of the running Monitors' tables plus what stopped ones knew
// within Expire, and nothing once no Monitor runs, however many reloads there were.
var reg = registry{recs: map[Key]*record{}, live: map[*Monitor]struct{}{}}

type registry struct {
	mu      sync.Mutex
	live    map[*Monitor]struct{} // Monitors started and not stopped
	orphans int                   // records no Monitor holds
	recs    map[Key]*record
}

// record is the shared memory of one key.
type record struct {
	last    atomic.Pointer[snapshot] // the latest snapshot any holder published; nil before the first
	holders int                      // Monitors whose table has the key; guarded by reg.mu
	seen    time.Time                // orphans: when a holder last observed the key; guarded by reg.mu
}

// acquire returns the record of k, created if need be, with one more holder.
func (r *registry) acquire(k Key) *record {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.recs[k]
	switch {
	case rec == nil:
		rec = &record{}
		r.recs[k] = rec
	case rec.holders == 0:
		r.orphans--
	}
	rec.holders++
	return rec
}

// expire lets go of the records of entries a Monitor forgot for not being observed, and returns the keys
// that left the registry with them.
func (r *registry) expire(es []*entry) (forgotten []Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range es {
		e.rec.holders--
		if e.rec.holders == 0 {
			delete(r.recs, e.key)
			forgotten = append(forgotten, e.key)
		}
	}
	return forgotten
}

// stop lets go of the records of a stopping Monitor's entries, each last observed at seen(e), and counts
// the Monitor out of the running ones. With discard, a record no other Monitor holds goes instead of
// staying as an orphan. It returns the keys that left the registry.
func (r *registry) stop(m *Monitor, es []*entry, seen func(*entry) time.Time, discard bool) (forgotten []Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, m)
	for _, e := range es {
		rec := e.rec
		rec.holders--
		if t := seen(e); t.After(rec.seen) {
			rec.seen = t
		}
		switch {
		case rec.holders > 0:
		case discard:
			delete(r.recs, e.key)
			forgotten = append(forgotten, e.key)
		default:
			r.orphans++
		}
	}
	if len(r.live) > 0 {
		return forgotten
	}
	// Nothing runs any more: whatever nobody holds goes, orphans of earlier reloads included.
	for k, rec := range r.recs {
		if rec.holders == 0 {
			delete(r.recs, k)
			r.orphans--
			forgotten = append(forgotten, k)
		}
	}
	return forgotten
}

// start counts a Monitor in the running ones.
func (r *registry) start(m *Monitor) {
	r.mu.Lock()
	r.live[m] = struct{}{}
	r.mu.Unlock()
}

// Monitored returns the number of targets the running Monitors hold, each Monitor's counted: a target
// that two server blocks share is probed by each, and counted twice.
func Monitored() int {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	n := 0
	for m := range reg.live {
		n += m.Len()
	}
	return n
}

// sweep drops the orphans last observed before cutoff and returns their keys.
func (r *registry) sweep(cutoff time.Time) (forgotten []Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.orphans == 0 {
		return nil
	}
	for k, rec := range r.recs {
		if rec.holders == 0 && rec.seen.Before(cutoff) {
			delete(r.recs, k)
			r.orphans--
			forgotten = append(forgotten, k)
		}
	}
	return forgotten
}

// size returns the number of records and of running Monitors, for tests.
func (r *registry) size() (recs, live int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.recs), len(r.live)
}

// Registered reports whether the process-wide registry holds a record of k: whether any Monitor watches
// it, or a stopped one left its state for a successor. For tests and diagnostics.
func Registered(k Key) bool {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	_, ok := reg.recs[k]
	return ok
}
