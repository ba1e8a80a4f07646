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
	// refused holds the keys refused at MaxTargets, with when they were last observed (as entry.seen);
	// guarded by mu.
	refused map[Key]int64
}

func newTable() *table {
	t := &table{seed: maphash.MakeSeed()}
	for i := range t.shards {
		m := map[Key]*entry{}
		t.shards[i].m.Store(&m)
	}
	return t
}

func (t *table) shard(k Key) *shard {
	h := maphash.String(t.seed, k.Target) ^ uint64(k.Port)*0x9e3779b97f4a7c15
	return &t.shards[h%shardCount]
}

// get returns the entry of k, or nil.
func (t *table) get(k Key) *entry { return (*t.shard(k).m.Load())[k] }

// insert adds e under k; the caller holds s.mu.
func (s *shard) insert(k Key, e *entry) {
	old := *s.m.Load()
	m := make(map[Key]*entry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[k] = e
	s.m.Store(&m)
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
	for k, e := range old {
		if !e.gone.Load() {
			m[k] = e
		}
	}
	s.m.Store(&m)
	return gone
}
