package health

import (
	"container/heap"
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/srvhealth/srvhealth/probe"
)

// Events receives what the monitor does; the root package turns it into metrics and log lines. Methods
// are called without any lock of the monitor held, so they may call Len or Report, and must not block.
type Events interface {
	// ProbeDone reports one probe of one address. Probes cut short by Stop are not reported.
	ProbeDone(k Key, addr netip.Addr, res probe.Result)
	// StateChanged reports a change of a target's state, once per change of this Monitor's view, with a
	// short reason for a log line. A Monitor that adopts a target's state from another does not report
	// the state it adopted here: see Adopted.
	StateChanged(k Key, from, to State, reason string)
	// Adopted reports a change of a target's state this Monitor took from a member of its fleet (Adopt):
	// prober's finding, not this Monitor's, reported once per change of its view, so its metrics and log
	// agree with the answers it gives.
	Adopted(k Key, from, to State, prober string)
	// Resolved reports a target's first resolution and every one that differs from the previous (CNAME
	// flag or addresses), so a CNAME or a missing address can be warned about once.
	Resolved(k Key, r Resolution)
	// Forgotten reports a key that left the process-wide registry: no Monitor watches it any more
	// (expired, or the last Monitor that knew it stopped), so its metric series can go.
	Forgotten(k Key)
	// Overflow reports a key refused because the table is at MaxTargets and holds nothing it may evict;
	// the key is not monitored. A key is reported once until it goes unobserved for Expire, like a
	// monitored one, as long as no more than MaxTargets refused keys are remembered at once; past that
	// every refusal is reported.
	Overflow(k Key)
	// Evicted reports a key that left the table to make room for a new one: it had been seen in one
	// answer only, or its addresses all lie outside the scope. Forgotten follows if no Monitor holds it.
	Evicted(k Key)
	// Deferred reports a probe of one address that was not run because its server (address and port) had
	// had MaxPerServer probes this interval; it says nothing about the target.
	Deferred(k Key, addr netip.Addr)
}

type nopEvents struct{}

func (nopEvents) ProbeDone(Key, netip.Addr, probe.Result) {}
func (nopEvents) StateChanged(Key, State, State, string)  {}
func (nopEvents) Adopted(Key, State, State, string)       {}
func (nopEvents) Resolved(Key, Resolution)                {}
func (nopEvents) Forgotten(Key)                           {}
func (nopEvents) Overflow(Key)                            {}
func (nopEvents) Evicted(Key)                             {}
func (nopEvents) Deferred(Key, netip.Addr)                {}

// seenGranularity is how stale an entry's last-seen time may get before Observe writes it again (or an
// eighth of Expire or half the Interval, if less): expiry works in minutes, and not rewriting the same
// cache line on every query keeps Observe cheap when many cores answer for the same target. It is also the
// unit in which sightings are counted for admission: a key seen in two such windows is one clients keep
// asking for.
const seenGranularity = time.Second

// keptHits is the number of windows of seenGranularity in which a key must be seen before it counts as one
// clients keep asking for, which names seen once can never displace from the table.
const keptHits = 2

// maxIdleShift bounds the back-off of a target nobody asks for: its rounds come Interval << idle apart,
// idle counting the rounds in a row it went unobserved, up to Expire. A name seen once then costs
// log2(Expire/Interval)+1 rounds before it expires (7 with the defaults), not Expire/Interval (60).
const maxIdleShift = 16

// entry is one monitored target of one Monitor.
type entry struct {
	key    Key
	domain string // service domain, for SNI, XMPP 'to' and SIP URI host: key.Domain, or the first seen
	host   string // key.Target without its trailing dot
	rec    *record

	snap atomic.Pointer[snapshot] // the query path's view; replaced, never modified
	seen atomic.Int64             // last Observe, in nanoseconds since the Monitor's epoch
	gone atomic.Bool              // removed from the table; the scheduler drops it

	// Admission: what decides whether the entry may be evicted for a new key.
	hits   atomic.Uint32 // windows of seenGranularity in which the key was seen; keptHits or more: kept
	pinned bool          // named by the operator (warm) or known from before a reload: kept; set at insert
	named  bool          // named by the operator (warm): probed every interval, asked for or not
	oos    atomic.Bool   // resolved, and every address lies outside the scope: nothing to probe, evictable
	queued atomic.Bool   // in the Monitor's eviction queue
	idling atomic.Bool   // its rounds are backing off for want of observation; a sighting brings them back
	waking atomic.Bool   // a sighting asked the scheduler to bring its next round forward

	// Owned by the scheduler goroutine.
	due      time.Time // when its next round starts
	prevDue  time.Time // when its previous round was due
	running  bool      // a round of it runs
	class    class     // the budget its running round counts against
	index    int       // its place in the scheduler's heap; -1 when not in it
	idle     int       // rounds in a row placed with no sighting since the previous one
	seenMark int64     // seen when its last round was placed

	// Owned by the goroutine running its round.
	resolvedAt  time.Time // when the target was last resolved
	nextResolve time.Time // when it must be resolved again; zero: at its next round
	unchanged   int       // resolutions in a row that found what the one before found
	resolveErrs int       // resolutions in a row that failed

	// report orders the round's events before Forgotten: a round reports under it only while the entry is
	// in the table, and whoever removes the entry takes it once before reporting Forgotten.
	reporting sync.Mutex
}

// kept reports whether e is a target clients keep asking for (or the operator named), which a new key
// never displaces.
func (e *entry) kept() bool { return e.pinned || e.hits.Load() >= keptHits }

// evictable reports whether a new key may take e's place.
func (e *entry) evictable() bool { return !e.gone.Load() && (e.oos.Load() || !e.kept()) }

// class is the budget a round runs on. Targets already down are out of the answers: probing them late
// only delays their return. Targets that are up or unknown are in the answers, and a late probe of one that
// just died keeps it there. So a down target's round runs on a budget of its own, a quarter of MaxInFlight,
// and however many of them hang (a site that lost power), the rest of the slots stay free for the targets
// that could still fall.
type class uint8

const (
	serving class = iota // up or unknown: in the answers
	down                 // down: out of the answers already
)

func classOf(e *entry) class {
	if e.snap.Load().status.State == Down {
		return down
	}
	return serving
}

// Monitor probes the targets it is told about and keeps their state for the query path.
//
// Scheduling is one goroutine with a heap of due times. A due round gets a goroutine of its own (resolve,
// then probe its addresses in parallel) as soon as its class has room: at most MaxInFlight rounds of
// serving targets and MaxInFlight/4 of down ones run at once. Probes are bounded the same way, MaxInFlight
// in all and a quarter of that for down targets, each holding its slot for at most Timeout. A hung address
// costs a parked goroutine and a socket for Timeout, not a worker that every other target waits for, so
// the rounds of the serving targets keep their interval while up to a quarter of the slots hang; a round
// that finds no room waits in its class's queue, in due order. 10,000 targets cost 10,000 heap entries,
// not 10,000 timers and goroutines. A new target's first round is placed at a random offset within one
// Interval so a burst of new targets (or a warm list) is spread over the interval; later rounds keep that
// phase.
type Monitor struct {
	cfg       Config
	resolver  Resolver
	newProber func(probe.Method) (probe.Prober, error)
	ev        Events

	table      *table
	servers    serverBudget
	door       *doorkeeper
	n          atomic.Int64 // entries in the table
	nRefused   atomic.Int64 // keys in the shards' refused sets
	epoch      time.Time
	touchEvery int64 // nanoseconds; see seenGranularity

	// evictQ holds, oldest first, the entries that may be evicted to make room: each entry is queued when
	// it is inserted (unless kept from the start) and when its addresses turn out to lie outside the
	// scope; one that became kept is dropped when it comes up. Guarded by evictMu.
	evictMu sync.Mutex
	evictQ  []*entry

	mu       sync.Mutex // guards pending, woken, probers and launched
	pending  []*entry   // new or finished entries for the scheduler to (re)place
	woken    []*entry   // idle entries seen again, whose next round the scheduler brings forward
	probers  map[probe.Method]proberOrErr
	launched bool          // the scheduler goroutine was started
	wake     chan struct{} // capacity 1: pending has something

	sem     chan struct{} // a slot per probe in flight
	downSem chan struct{} // a slot per probe in flight of a down target, taken before sem
	rng     *rand.Rand    // scheduler goroutine only

	ctx       context.Context // cancelled by Stop: cuts probes and resolutions short
	cancel    context.CancelFunc
	quit      chan struct{}
	wg        sync.WaitGroup
	startOnce sync.Once
	stopOnce  sync.Once
	started   atomic.Bool
	stopped   atomic.Bool

	settled broadcaster // a target was resolved for the first time (WaitSettled)
}

type proberOrErr struct {
	p   probe.Prober
	err error
}

// New returns a Monitor that resolves targets with r, probes them with the probers newProber builds (once
// per method) and reports to ev (nil: nothing is reported). Zero fields of cfg take their defaults. Call
// Start to begin probing and Stop to end it; a Monitor that was never started must still be stopped if it
// was given targets, so the registry lets go of them.
func New(cfg Config, r Resolver, newProber func(probe.Method) (probe.Prober, error), ev Events) *Monitor {
	if ev == nil {
		ev = nopEvents{}
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	now := time.Now()
	return &Monitor{
		cfg:        cfg,
		resolver:   r,
		newProber:  newProber,
		ev:         ev,
		table:      newTable(),
		servers:    serverBudget{limit: cfg.MaxPerServer, every: cfg.Interval},
		door:       newDoorkeeper(cfg.MaxTargets),
		epoch:      now,
		touchEvery: int64(min(seenGranularity, cfg.Expire/8, cfg.Interval/2)),
		probers:    map[probe.Method]proberOrErr{},
		wake:       make(chan struct{}, 1),
		sem:        make(chan struct{}, cfg.MaxInFlight),
		downSem:    make(chan struct{}, downBudget(cfg.MaxInFlight)),
		rng:        rand.New(rand.NewPCG(uint64(now.UnixNano()), 0x5352564845414c54)),
		ctx:        ctx,
		cancel:     cancel,
		quit:       make(chan struct{}),
	}
}

// Start begins probing, until Stop. The scheduler goroutine starts with the first target, so a Monitor
// that is started and never given one (a server block no SRV query reaches, or an instance CoreDNS drops
// after a failed reload) runs nothing. Starting twice, or after Stop, does nothing.
func (m *Monitor) Start() {
	m.startOnce.Do(func() {
		if m.stopped.Load() {
			return
		}
		reg.start(m)
		m.started.Store(true)
		if m.n.Load() > 0 {
			m.launch()
		}
	})
}

// launch starts the scheduler goroutine, once, unless Stop came first.
func (m *Monitor) launch() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.launched || m.stopped.Load() {
		return
	}
	m.launched = true
	m.wg.Add(1)
	go m.schedule()
}

// downBudget is the share of the in-flight limit that down targets may use: a quarter, at least one.
func downBudget(maxInFlight int) int { return max(1, maxInFlight/4) }

// Stop ends probing, waits for every goroutine the Monitor started, and lets go of its targets in the
// registry (they stay there for the rest of Expire while another Monitor runs, so a reloaded instance
// keeps their state). It is safe to call more than once and from several goroutines.
func (m *Monitor) Stop() { m.stop(false) }

// Discard is Stop for a Monitor whose work is to leave no trace: that of an instance CoreDNS started and
// then dropped, which has no successor to hand its states to. The targets only it held leave the registry
// at once instead of staying for the rest of Expire; those other Monitors hold stay theirs.
func (m *Monitor) Discard() { m.stop(true) }

func (m *Monitor) stop(discard bool) {
	m.stopOnce.Do(func() {
		m.mu.Lock() // orders this with launch: no goroutine starts once stopped is set
		m.stopped.Store(true)
		m.mu.Unlock()
		m.startOnce.Do(func() {}) // a Start racing with Stop does nothing
		m.cancel()
		close(m.quit)
		m.wg.Wait()

		// Observe inserts under the shard lock after checking stopped, so once every shard was locked
		// here, no entry can be added behind our back.
		var es []*entry
		for i := range m.table.shards {
			es = append(es, m.table.shards[i].removeIf(func(*entry) bool { return true })...)
		}
		m.n.Store(0)
		forgotten := reg.stop(m, es, m.seenAt, discard)
		for _, k := range forgotten {
			m.ev.Forgotten(k)
		}
	})
}

// Observe registers k, named by the operator for the service domain domain (the warm list), or refreshes
// it. Such a key is kept: a new key never evicts it. The probes of k use k.Domain when it is set, and
// otherwise the domain of k's first Observe. It never blocks on probes or the network.
func (m *Monitor) Observe(k Key, domain string) {
	now := int64(time.Since(m.epoch))
	if e := m.table.get(k); e != nil {
		m.touch(e, now)
		return
	}
	m.observeNew(k, domain, now, true, false)
}

// touch records a sighting of e at now. The last-seen time is written at most once per touchEvery, and
// each such write counts a hit; an idle entry seen again has its next round brought forward.
func (m *Monitor) touch(e *entry, now int64) {
	if now-e.seen.Load() <= m.touchEvery {
		return
	}
	e.seen.Store(now)
	e.hits.Add(1)
	if e.idling.Load() && e.waking.CompareAndSwap(false, true) {
		m.mu.Lock()
		m.woken = append(m.woken, e)
		m.mu.Unlock()
		m.signal()
	}
}

// observeNew inserts k, seen in an answer (named false) or named by the operator. At MaxTargets a key
// seen before evicts the oldest entry a new key may displace (one seen once, or one with no address in
// scope); a key seen for the first time, or one with nothing to evict, is refused (Events.Overflow) and
// not monitored.
//
// A key the fleet spoke of (remote) takes only free room: it evicts nothing, is not counted as refused,
// and stays seen once even when the registry knows it from before a reload. What the fleet gossips is no
// sighting here, and must not displace, or become, a target this member's clients keep asking for.
func (m *Monitor) observeNew(k Key, domain string, now int64, named, remote bool) {
	s := m.table.shard(k)
	if remote && !m.reserve() {
		return
	}
	if !remote && !m.admit(k) {
		s.mu.Lock()
		if e := (*s.m.Load())[k]; e != nil || m.stopped.Load() {
			s.mu.Unlock()
			if e != nil {
				m.touch(e, now)
			}
			return
		}
		first := m.refuse(s, k, now)
		s.mu.Unlock()
		if first {
			m.ev.Overflow(k)
		}
		return
	}
	s.mu.Lock()
	if m.stopped.Load() {
		s.mu.Unlock()
		m.n.Add(-1)
		return
	}
	if e := (*s.m.Load())[k]; e != nil {
		s.mu.Unlock()
		m.n.Add(-1)
		m.touch(e, now)
		return
	}
	if _, ok := s.refused[k]; ok {
		delete(s.refused, k)
		m.nRefused.Add(-1)
	}
	if k.Domain != "" {
		domain = k.Domain
	}
	e := &entry{key: k, domain: domain, host: strings.TrimSuffix(k.Target, "."), index: -1}
	e.seen.Store(now)
	e.hits.Store(1)
	e.rec = reg.acquire(k)
	kept := named
	if last := e.rec.last.Load(); last != nil {
		e.snap.Store(last)
		kept = kept || !remote // known from before a reload, or to another server block
	} else {
		// Until its first round a target counts as up, and that round can change it: its Until is now,
		// so an answer naming it gets the floor of the health-aware TTL, not the longest one.
		e.snap.Store(&snapshot{status: Status{Until: m.epoch.Add(time.Duration(now))}})
	}
	e.pinned, e.named = kept, named
	s.insert(k, e)
	s.mu.Unlock()
	if !kept {
		m.queueEvictable(e)
	}
	m.enqueue(e)
	if m.started.Load() {
		m.launch()
	}
}

// admit takes a place in the table for the new key k and reports whether it got one. At MaxTargets, k
// takes the place of an evictable entry only if it was refused before (the doorkeeper): a name seen once
// costs a bit in a filter and nothing else, while a target that clients ask for again gets in at its
// second sighting. A place another new key takes between the eviction and the reservation is evicted for
// again.
func (m *Monitor) admit(k Key) bool {
	if m.reserve() {
		return true
	}
	if !m.door.seen(k) {
		return false
	}
	for !m.reserve() {
		if !m.evictOne() {
			return false
		}
	}
	return true
}

// queueEvictable puts e at the back of the eviction queue, unless it is there already. The queue holds
// entries that left or became kept until they come up; it is compacted when it grows past twice the table.
func (m *Monitor) queueEvictable(e *entry) {
	if !e.queued.CompareAndSwap(false, true) {
		return
	}
	m.evictMu.Lock()
	defer m.evictMu.Unlock()
	m.evictQ = append(m.evictQ, e)
	if len(m.evictQ) > 2*m.cfg.MaxTargets+64 {
		q := m.evictQ[:0]
		for _, x := range m.evictQ {
			if x.evictable() {
				q = append(q, x)
			} else {
				x.queued.Store(false)
			}
		}
		clear(m.evictQ[len(q):])
		m.evictQ = q
	}
}

// evictOne removes the oldest evictable entry from the table and reports whether there was one.
func (m *Monitor) evictOne() bool {
	for {
		m.evictMu.Lock()
		if len(m.evictQ) == 0 {
			m.evictMu.Unlock()
			return false
		}
		e := m.evictQ[0]
		m.evictQ[0] = nil
		m.evictQ = m.evictQ[1:]
		m.evictMu.Unlock()
		e.queued.Store(false)
		if !e.evictable() {
			continue
		}
		gone := m.table.shard(e.key).removeIf(func(x *entry) bool { return x == e && x.evictable() })
		if len(gone) == 0 {
			continue // expired, kept or removed meanwhile
		}
		m.n.Add(-1)
		m.ev.Evicted(e.key)
		m.retire(gone)
		return true
	}
}

// retire hands the entries just removed from the table back to the registry and reports Forgotten for
// the keys that left it. It first waits out any round of theirs that is reporting: a round reports only
// while its entry is in the table, so nothing about a forgotten key is reported after Forgotten, and its
// metric series stay gone.
func (m *Monitor) retire(gone []*entry) {
	for _, e := range gone {
		e.reporting.Lock()
		e.reporting.Unlock() //nolint:staticcheck // an empty critical section: a barrier
	}
	for _, k := range reg.expire(gone) {
		m.ev.Forgotten(k)
	}
}

// refuse remembers that k was refused at now and reports whether that is news. The caller holds s.mu.
func (m *Monitor) refuse(s *shard, k Key, now int64) bool {
	if _, ok := s.refused[k]; ok {
		s.refused[k] = now
		return false
	}
	if m.nRefused.Load() >= int64(m.cfg.MaxTargets) {
		return true // too many to remember: count each refusal rather than grow without bound
	}
	if s.refused == nil {
		s.refused = map[Key]int64{}
	}
	s.refused[k] = now
	m.nRefused.Add(1)
	return true
}

// reserve takes a place in the table, or reports that it is full.
func (m *Monitor) reserve() bool {
	for {
		n := m.n.Load()
		if n >= int64(m.cfg.MaxTargets) {
			return false
		}
		if m.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// lookup returns the state of k and whether k is monitored. It takes no lock: the table is read through
// atomic pointers to immutable shard maps, and the status through an atomic pointer to an immutable
// snapshot, so a reader never waits for a writer and never sees a half-made update.
func (m *Monitor) lookup(k Key) (Status, bool) {
	e := m.table.get(k)
	if e == nil {
		return Status{}, false
	}
	return e.snap.Load().status, true
}

// Check registers k, seen in an answer for the service domain domain, or refreshes it, and returns its
// state: the query path's call for each target, with one table lookup. A new key is admitted as seen once:
// it may be evicted for another until it is seen again in a later window of seenGranularity.
func (m *Monitor) Check(k Key, domain string) (Status, bool) {
	if e := m.table.get(k); e != nil {
		m.touch(e, int64(time.Since(m.epoch)))
		return e.snap.Load().status, true
	}
	m.observeNew(k, domain, int64(time.Since(m.epoch)), false, false)
	return m.lookup(k)
}

// Settled reports whether k has been resolved and has had the probe round that came with it (or had
// nothing to probe: a CNAME with no address, no address, or none in scope). A key that is not monitored,
// or whose resolution keeps failing, is not settled.
func (m *Monitor) Settled(k Key) bool {
	e := m.table.get(k)
	return e != nil && e.snap.Load().status.Resolved
}

// WaitSettled returns once every key of keys is settled, or ctx's error when ctx ends first. It waits for
// the rounds that settle them; it never polls.
func (m *Monitor) WaitSettled(ctx context.Context, keys []Key) error {
	for {
		wake := m.settled.wait() // taken before the check, so a key settling in between is not missed
		if !slices.ContainsFunc(keys, func(k Key) bool { return !m.Settled(k) }) {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// broadcaster wakes every goroutine waiting for an event: each wait gets the channel the next broadcast
// closes. The zero value is ready.
type broadcaster struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcaster) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcaster) broadcast() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

// Len returns the number of monitored targets.
func (m *Monitor) Len() int { return int(m.n.Load()) }

func (m *Monitor) seenAt(e *entry) time.Time { return m.epoch.Add(time.Duration(e.seen.Load())) }

// enqueue hands e to the scheduler without blocking.
func (m *Monitor) enqueue(e *entry) {
	m.mu.Lock()
	m.pending = append(m.pending, e)
	m.mu.Unlock()
	m.signal()
}

// signal wakes the scheduler without blocking.
func (m *Monitor) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// dueHeap orders entries by their next round, and keeps each entry's index for heap.Fix.
type dueHeap []*entry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// sweepEvery is how often the scheduler looks for expired targets.
func (m *Monitor) sweepEvery() time.Duration {
	return max(time.Millisecond, min(m.cfg.Interval, m.cfg.Expire/4))
}

// schedule is the scheduler goroutine: it places new and finished entries on the heap, starts the rounds
// that are due as their class has room, and sweeps expired targets.
func (m *Monitor) schedule() {
	defer m.wg.Done()
	var (
		q       dueHeap
		ready   [2][]*entry // due rounds waiting for room, by class, in due order
		running [2]int
		limit   = [2]int{serving: m.cfg.MaxInFlight, down: downBudget(m.cfg.MaxInFlight)}
	)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	nextSweep := time.Now().Add(m.sweepEvery())
	for {
		now := time.Now()
		m.mu.Lock()
		pending, woken := m.pending, m.woken
		m.pending, m.woken = nil, nil
		m.mu.Unlock()
		for _, e := range woken {
			e.waking.Store(false)
			// An idle entry seen again has its next round one interval after its previous one, or now.
			soon := e.prevDue.Add(m.cfg.Interval)
			if soon.Before(now) {
				soon = now
			}
			if e.index >= 0 && e.due.After(soon) {
				e.due = soon
				heap.Fix(&q, e.index)
			}
		}
		for _, e := range pending {
			if e.running {
				e.running = false
				running[e.class]--
			}
			if e.gone.Load() {
				continue
			}
			m.place(e, now)
			heap.Push(&q, e)
		}
		if !now.Before(nextSweep) {
			m.sweep(now)
			nextSweep = now.Add(m.sweepEvery())
		}
		for q.Len() > 0 && !q[0].due.After(now) {
			e := heap.Pop(&q).(*entry)
			if !e.gone.Load() {
				c := classOf(e)
				ready[c] = append(ready[c], e)
			}
		}
		for c := range ready {
			for running[c] < limit[c] && len(ready[c]) > 0 {
				e := ready[c][0]
				ready[c][0] = nil
				ready[c] = ready[c][1:]
				if e.gone.Load() {
					continue
				}
				e.running, e.class = true, class(c)
				running[c]++
				m.wg.Add(1)
				go m.run(e, class(c))
			}
		}
		wait := nextSweep.Sub(now)
		if q.Len() > 0 {
			wait = min(wait, q[0].due.Sub(now))
		}
		timer.Reset(max(wait, 0))
		select {
		case <-m.quit:
			return
		case <-m.wake:
		case <-timer.C:
		}
	}
}

// place sets the start of e's next round. A new entry starts at a random offset within one interval, or,
// when it adopted a state another Monitor probed recently, one interval after that probe. A finished
// entry runs one interval after its last start, or at once if its round took longer than that; one that
// nobody asked for since its previous round was placed backs off, doubling the wait each time up to Expire,
// until a sighting brings it back (touch).
func (m *Monitor) place(e *entry, now time.Time) {
	iv := m.cfg.Interval
	seen := e.seen.Load()
	if e.due.IsZero() {
		e.seenMark = seen
		s := e.snap.Load()
		if next := s.status.Checked.Add(iv); !s.status.Checked.IsZero() && next.After(now) && next.Before(now.Add(iv)) {
			e.due, e.prevDue = next, next
			return
		}
		e.due = now.Add(time.Duration(m.rng.Int64N(int64(iv))))
		e.prevDue = e.due
		if s.status.Checked.IsZero() && !s.status.Resolved {
			// Until a target is probed it counts as up; tell the query path when that can change.
			ns := *s
			ns.status.Until = e.due
			e.snap.CompareAndSwap(s, &ns)
		}
		return
	}
	if seen > e.seenMark || e.named {
		e.idle = 0
	} else if e.idle < maxIdleShift {
		e.idle++
	}
	e.seenMark = seen
	e.idling.Store(e.idle > 0)
	e.prevDue = e.due
	e.due = e.due.Add(min(iv<<e.idle, max(iv, m.cfg.Expire)))
	if e.due.Before(now) {
		e.due = now
	}
}

// sweep forgets the targets not observed for Expire, and the orphans of stopped Monitors as old.
func (m *Monitor) sweep(now time.Time) {
	cutoff := int64(now.Sub(m.epoch) - m.cfg.Expire)
	var gone []*entry
	for i := range m.table.shards {
		s := &m.table.shards[i]
		expired := false
		for _, e := range *s.m.Load() {
			if e.seen.Load() < cutoff {
				expired = true
				break
			}
		}
		if expired {
			gone = append(gone, s.removeIf(func(e *entry) bool { return e.seen.Load() < cutoff })...)
		}
	}
	m.n.Add(-int64(len(gone)))
	m.servers.sweep(now)
	if m.nRefused.Load() > 0 {
		for i := range m.table.shards {
			s := &m.table.shards[i]
			s.mu.Lock()
			for k, seen := range s.refused {
				if seen < cutoff {
					delete(s.refused, k)
					m.nRefused.Add(-1)
				}
			}
			s.mu.Unlock()
		}
	}
	m.retire(gone)
	for _, k := range reg.sweep(now.Add(-m.cfg.Expire)) {
		m.ev.Forgotten(k)
	}
}

// run runs one round of e on the budget of class c and hands e back to the scheduler.
func (m *Monitor) run(e *entry, c class) {
	defer m.wg.Done()
	m.round(e, c)
	m.enqueue(e)
}

// prober returns the prober of method, built on first use.
func (m *Monitor) prober(method probe.Method) (probe.Prober, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.probers[method]
	if !ok {
		p.p, p.err = m.newProber(method)
		m.probers[method] = p
	}
	return p.p, p.err
}

// resolveEvery is how long a healthy target's resolution is reused at the least before it is resolved
// again, whatever its records' TTL. Resolving is two queries through the plugin chain per round, a fifth
// of the monitor's CPU at 10,000 targets, and a target's records change far less often than its health.
const resolveEvery = 30 * time.Second

var errNotDue = errors.New("resolution not due")

// resolveBackoff bounds the back-off of a target that is not wholly up (down, a CNAME, an address down,
// no address in scope) and whose resolution keeps finding the same: Interval << resolveBackoff, 8
// intervals (80 s with the defaults), or the records' TTL if that is longer.
const resolveBackoff = 3

// resolveAfter returns how long the resolution of a target whose round ended in st, with address records
// of TTL ttl and unchanged resolutions in a row finding the same, holds before the target is resolved
// again. Nothing learnt is resolved again before its TTL (as a resolver would cache it), within [Interval,
// Expire]. A healthy target waits resolveEvery at the least. Any other waits one interval after a change and
// then backs off, so a dead or out-of-scope target that an outsider showed the server once costs two
// queries per 8 intervals at most rather than per interval, and a fixed zone is taken back within the
// longer of its TTL and 8 intervals.
func resolveAfter(c *Config, st Status, ttl uint32, unchanged int) time.Duration {
	d := time.Duration(ttl) * time.Second
	if st.State == Up && !st.CNAME && len(st.Down) == 0 {
		d = max(d, resolveEvery)
	} else {
		d = max(d, c.Interval<<min(unchanged, resolveBackoff))
	}
	return min(max(d, c.Interval), max(c.Expire, c.Interval))
}

// retryAfter returns how long a target whose resolution failed errs times in a row waits before the next
// try: one interval, doubling up to 8.
func retryAfter(c *Config, errs int) time.Duration {
	return c.Interval << min(max(errs-1, 0), resolveBackoff)
}

// round resolves e's target when its resolution is due, probes its addresses, publishes the new snapshot
// and reports what happened. A round cut short by Stop publishes nothing: a cancelled probe says nothing
// about the target.
func (m *Monitor) round(e *entry, c class) {
	start := time.Now()
	old := e.snap.Load()
	f := m.cfg.Fleet
	if f != nil && !f.Owns(e.key) {
		kept := e.kept()
		if kept && (e.seen.Load() > e.seenMark || e.named) {
			// Clients ask this member for it: its owners are to probe it, and keep it.
			f.Want(e.key, e.domain)
		}
		if old.prober != "" && old.prober != f.Name() && start.Sub(old.heard) < m.cfg.StaleAfter() {
			return // the owners probe it and this member hears of them
		}
		if kept {
			f.Fallback(e.key)
		}
	}

	var res Resolution
	err := errNotDue
	if !start.Before(e.nextResolve) {
		rctx, cancel := context.WithTimeout(m.ctx, m.cfg.Timeout)
		res, err = m.resolver.Resolve(rctx, e.key.Target)
		cancel()
		if m.ctx.Err() != nil {
			return
		}
		if err == nil {
			e.resolvedAt = start
			e.resolveErrs = 0
		} else {
			e.resolveErrs++
			e.nextResolve = start.Add(retryAfter(&m.cfg, e.resolveErrs))
		}
	}
	r := round{start: start, resolved: err == nil}
	if r.resolved {
		r.res = normalize(res)
	}
	addrs := old.res.Addrs
	if r.resolved {
		addrs = r.res.Addrs
	}
	r.probed = pickAddrs(addrs, m.cfg.Scope, m.cfg.MaxAddrs)
	var p probe.Prober
	if len(r.probed) > 0 {
		var perr error
		if p, perr = m.prober(e.key.Method); perr != nil {
			r.probed, r.why = nil, "no prober for "+e.key.Method.String()+": "+perr.Error()
		}
	}
	r.results, r.deferred = m.probeAll(p, e, c, r.probed)
	if m.ctx.Err() != nil {
		return
	}

	ns, reason := advance(&m.cfg, old, r)
	ns.heard = start
	ns.prober = ownName(f)
	ns.status.Until = fleetUntil(f, start, ns.status.Until)
	changed := r.resolved && (!old.status.Resolved || r.res.CNAME != old.res.CNAME || !slices.Equal(r.res.Addrs, old.res.Addrs))
	if r.resolved {
		if changed {
			e.unchanged = 0
		} else {
			e.unchanged++
		}
		e.nextResolve = start.Add(resolveAfter(&m.cfg, ns.status, ns.res.TTL, e.unchanged))
	}
	// A target whose addresses all lie outside the scope is served unfiltered and never probed: keeping it
	// only saves resolving it again, so it is the first to make room for a target that can be probed.
	oos := ns.status.Resolved && len(ns.res.Addrs) > 0 && len(r.probed) == 0 && r.why == ""
	e.oos.Store(oos)
	if oos {
		m.queueEvictable(e)
	}

	e.reporting.Lock()
	defer e.reporting.Unlock()
	if e.gone.Load() {
		return // removed meanwhile: its series are gone, and so is what it found
	}
	prev := e.snap.Load() // old, or what the fleet told of while this round ran
	if prev != old && newerSnap(prev, ns) {
		// The fleet told of a later round while this one ran: newest wins here as everywhere. What this
		// round probed is still reported below, but the state is the fleet's.
		ns = prev
	} else {
		e.snap.Store(ns)
		e.rec.last.Store(ns)
		if f != nil && e.kept() && !oos && f.Owns(e.key) {
			f.Share(share(e, ns))
		}
	}
	if ns.status.Resolved && !old.status.Resolved {
		m.settled.broadcast()
	}
	if changed {
		m.ev.Resolved(e.key, r.res)
	}
	for i, a := range r.probed {
		if r.deferred[i] {
			m.ev.Deferred(e.key, a)
		} else {
			m.ev.ProbeDone(e.key, a, r.results[i])
		}
	}
	if ns != prev && ns.status.State != prev.status.State {
		m.ev.StateChanged(e.key, prev.status.State, ns.status.State, reason)
	}
}

// ownName is the name the rounds of this process carry: f's, or none without a fleet.
func ownName(f Sharer) string {
	if f == nil {
		return ""
	}
	return f.Name()
}

// probeAll probes addrs in parallel, each under a slot of class c's budget, its server's budget and
// Timeout, and returns their results and which were deferred for want of room in their server's budget.
func (m *Monitor) probeAll(p probe.Prober, e *entry, c class, addrs []netip.Addr) ([]probe.Result, []bool) {
	results := make([]probe.Result, len(addrs))
	deferred := make([]bool, len(addrs))
	if len(addrs) == 1 {
		results[0], deferred[0] = m.probeOne(p, e, c, addrs[0])
		return results, deferred
	}
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() { results[i], deferred[i] = m.probeOne(p, e, c, a) })
	}
	wg.Wait()
	return results, deferred
}

func (m *Monitor) probeOne(p probe.Prober, e *entry, c class, a netip.Addr) (probe.Result, bool) {
	ap := netip.AddrPortFrom(a, e.key.Port)
	if !m.servers.take(ap, time.Now(), e.kept()) {
		return probe.Result{}, true
	}
	if c == down {
		select {
		case m.downSem <- struct{}{}:
		case <-m.ctx.Done():
			return probe.Result{Reason: "stopped"}, false
		}
		defer func() { <-m.downSem }()
	}
	select {
	case m.sem <- struct{}{}:
	case <-m.ctx.Done():
		return probe.Result{Reason: "stopped"}, false
	}
	defer func() { <-m.sem }()
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	res := p.Probe(ctx, probe.Target{Addr: ap, Domain: e.domain, Host: e.host})
	if res.Duration == 0 {
		res.Duration = time.Since(t0)
	}
	return res, false
}
