package health

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// doorkeeper remembers the keys refused at MaxTargets in a Bloom filter of fixed size (TinyLFU's
// doorkeeper): a key refused once and seen again may evict an entry seen once, while a flood of names seen
// once costs a few bits each and no resolution, probe or table entry. It holds up to 4 x MaxTargets keys
// (at least 1024) with 8 bits each, 40 KiB for the default 10,000, a false positive rate of about 3%, and
// starts afresh when full, so under a flood a target must be asked for twice within the time the flood
// takes to send 4 x MaxTargets names.
type doorkeeper struct {
	seed maphash.Seed
	bits []atomic.Uint64
	n    atomic.Int64 // keys added since the last reset
	cap  int64
}

const doorHashes = 3

func newDoorkeeper(maxTargets int) *doorkeeper {
	c := max(1024, 4*int64(maxTargets))
	return &doorkeeper{seed: maphash.MakeSeed(), bits: make([]atomic.Uint64, c*8/64), cap: c}
}

// seen reports whether k was added before, and adds it if it was not.
func (d *doorkeeper) seen(k Key) bool {
	h := maphash.Comparable(d.seed, k)
	h1, h2 := h, h>>33|1
	m := uint64(len(d.bits)) * 64
	all := true
	for i := range uint64(doorHashes) {
		b := (h1 + i*h2) % m
		w, bit := &d.bits[b/64], uint64(1)<<(b%64)
		if w.Load()&bit == 0 {
			all = false
			w.Or(bit)
		}
	}
	if !all && d.n.Add(1) > d.cap {
		d.n.Store(0)
		for i := range d.bits {
			d.bits[i].Store(0)
		}
	}
	return all
}

// serverBudget bounds the probes started against each server (address and port) per interval: limit in
// all, and a quarter of it (at least one) for targets not kept, so a flood of names seen once (a wildcard
// SRV gives any number, each its own key for the probes that carry the domain) never costs a server more
// than limit probes an interval, and never takes more than a quarter of them from the targets clients keep
// asking for. Its map holds the servers probed within the last two intervals, at most MaxTargets x
// MaxAddrs: a server probed every interval keeps its window, restarted in place, so the usual probe
// neither allocates nor inserts into the map (at 10,000 targets that was an allocation and a map insert
// per probe, and 10,000 deletes per sweep).
type serverBudget struct {
	limit int
	every time.Duration

	mu sync.Mutex
	m  map[netip.AddrPort]*serverWindow
}

// serverWindow counts the probes of one server since start.
type serverWindow struct {
	start          time.Time
	total, unkempt int
}

// take reports whether a probe of ap may start at now, for a target that is kept or not, and counts it.
func (b *serverBudget) take(ap netip.AddrPort, now time.Time, kept bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[netip.AddrPort]*serverWindow{}
	}
	w := b.m[ap]
	if w == nil {
		w = &serverWindow{start: now}
		b.m[ap] = w
	} else if now.Sub(w.start) >= b.every {
		*w = serverWindow{start: now}
	}
	if w.total >= b.limit || (!kept && w.unkempt >= max(1, b.limit/4)) {
		return false
	}
	w.total++
	if !kept {
		w.unkempt++
	}
	return true
}

// sweep drops the windows of the servers not probed for a whole interval since theirs ended, at now.
func (b *serverBudget) sweep(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ap, w := range b.m {
		if now.Sub(w.start) >= 2*b.every {
			delete(b.m, ap)
		}
	}
}
