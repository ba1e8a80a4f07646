package health

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// shardCount spreads writers (new targets, expiry) over this many locks and copies; with 10,000 targets a
// shard holds about 160 entries, so copying one on insert stays cheap.
const shardCount = 64

// table maps keys to entries for the query path. Each shard is an immutable map behind an atomic pointer,
// replaced by a copy on every insert or removal (read-copy-update): a read is a hash, an atomic load and a
// map lookup, with no lock and no allocation. sync.Map would box the struct Key into an interface on every
// Load (an allocation per query) and a RWMutex would make every reader write the same cache line; writes
// here are rare (a new target, an expiry sweep) and cost one copy of a small shard.
type table struct {
	seed   maphash.Seed
	shards [shardCount]shard
}

type shard struct {
	mu sync.Mutex // serialises writers; readers never take it
	m  atomic.Pointer[map[Key]*entry]
	// names indexes m by target name, for the questions asked by name (the addresses of a target); a key's
	// shard depends on its target only, so all the keys of a name are in one shard. Replaced with m.
	names atomic.Pointer[map[string]*nameEntry]
	// refused holds the keys refused at MaxTargets, with when they were last observed (as entry.seen);
	// guarded by mu.
	refused map[Key]int64
}

func newTable() *table {
	t := &table{seed: maphash.MakeSeed()}
	for i := range t.shards {
		m := map[Key]*entry{}
		t.shards[i].m.Store(&m)
		names := map[string]*nameEntry{}
		t.shards[i].names.Store(&names)
	}
	return t
}

func (t *table) shard(k Key) *shard { return t.shardOf(k.Target) }

func (t *table) shardOf(target string) *shard {
	return &t.shards[maphash.String(t.seed, target)%shardCount]
}

// get returns the entry of k, or nil.
func (t *table) get(k Key) *entry { return (*t.shard(k).m.Load())[k] }

// named returns the entries of the keys with target name, or nil.
func (t *table) named(target string) *nameEntry { return (*t.shardOf(target).names.Load())[target] }

// nameEntry is the entries of one target name, with what was last worked out from their snapshots.
type nameEntry struct {
	es   []*entry // replaced with the shard's map, never modified
	memo atomic.Pointer[addrMemo]
}

// addrMemo is an Addresses worked out from the snapshots snaps of a nameEntry's entries, in order: it holds
// while each entry still has that snapshot.
type addrMemo struct {
	snaps []*snapshot
	a     Addresses
}

// insert adds e under k; the caller holds s.mu.
func (s *shard) insert(k Key, e *entry) {
	old := *s.m.Load()
	m := make(map[Key]*entry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[k] = e
	s.m.Store(&m)
	oldNames := *s.names.Load()
	names := make(map[string]*nameEntry, len(oldNames)+1)
	for n, ne := range oldNames {
		names[n] = ne
	}
	var es []*entry
	if ne := oldNames[k.Target]; ne != nil {
		es = ne.es
	}
	names[k.Target] = &nameEntry{es: append(es[:len(es):len(es)], e)}
	s.names.Store(&names)
}

// removeIf drops the entries for which drop is true, marks them gone and returns them; it takes s.mu.
func (s *shard) removeIf(drop func(*entry) bool) []*entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.m.Load()
	var gone []*entry
	for _, e := range old {
		if drop(e) {
			e.gone.Store(true)
			gone = append(gone, e)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	m := make(map[Key]*entry, len(old)-len(gone))
	names := map[string]*nameEntry{}
	for k, e := range old {
		if !e.gone.Load() {
			m[k] = e
			ne := names[k.Target]
			if ne == nil {
				ne = &nameEntry{}
				names[k.Target] = ne
			}
			ne.es = append(ne.es, e)
		}
	}
	s.m.Store(&m)
	s.names.Store(&names)
	return gone
}
