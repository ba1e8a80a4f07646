package health

import "time"

// Ref is a monitored key's entry in the table with the snapshot of its state a caller was given: what the
// query path keeps between two answers naming the same target, to read its state again without looking
// the key up (hashing it) and without copying a state that has not changed. The zero Ref names nothing.
type Ref struct {
	e *entry
	s *snapshot
}

// Valid reports whether r names an entry.
func (r Ref) Valid() bool { return r.e != nil }

// CheckRef is Check, and also returns the Ref of k when k is monitored.
func (m *Monitor) CheckRef(k Key, domain string) (Status, Ref, bool) {
	e := m.table.get(k)
	if e == nil {
		m.observeNew(k, domain, int64(time.Since(m.epoch)), false, false)
		if e = m.table.get(k); e == nil {
			return Status{}, Ref{}, false
		}
	} else {
		m.touch(e, int64(time.Since(m.epoch)))
	}
	s := e.snap.Load()
	return s.status, Ref{e, s}, true
}

// Recheck is Check for keys the caller holds Refs of: it refreshes each entry as a sighting (at one
// reading of the clock for all) and reports whether every one is still in the table with the state the
// Ref was taken with. When it returns false the caller must Check (or CheckRef) the keys again: a state
// changed, or a key left the table and must be registered anew. Refs that name nothing are skipped.
func (m *Monitor) Recheck(refs []Ref) bool {
	now := int64(time.Since(m.epoch))
	fresh := true
	for _, r := range refs {
		if r.e == nil {
			continue
		}
		if r.e.gone.Load() || r.e.snap.Load() != r.s {
			fresh = false
			continue
		}
		m.touch(r.e, now)
	}
	return fresh
}
