package health

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/srvhealth/srvhealth/probe"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var sipUDP = probe.Method{Kind: probe.KindSIP, Transport: probe.UDP}

func key(target string) Key { return Key{Target: target, Port: 5060, Method: sipUDP} }

// fakeResolver answers from a table; names not in it have no address.
type fakeResolver struct {
	mu    sync.Mutex
	res   map[string]Resolution
	err   map[string]error
	calls atomic.Int64
}

func newResolver() *fakeResolver {
	return &fakeResolver{res: map[string]Resolution{}, err: map[string]error{}}
}

func (f *fakeResolver) set(name string, r Resolution) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.res[name] = r
}

func (f *fakeResolver) Resolve(ctx context.Context, name string) (Resolution, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err[name]; err != nil {
		return Resolution{}, err
	}
	return f.res[name], nil
}

// fakeProber answers per address: up unless told otherwise, or blocked until its context ends. It counts
// calls per address and the probes in flight.
type fakeProber struct {
	mu      sync.Mutex
	down    map[netip.Addr]bool
	hang    map[netip.Addr]bool // blackholed: the probe returns only when its context ends
	calls   map[netip.Addr]int
	targets map[netip.Addr]probe.Target
	seq     func(call int) bool // if set, the result of the n-th call (from 1) of any address
	block   atomic.Bool
	linger  time.Duration // a blocked probe takes this long to return once its context ends

	total, cur, max atomic.Int64
}

func newProber() *fakeProber {
	return &fakeProber{down: map[netip.Addr]bool{}, hang: map[netip.Addr]bool{}, calls: map[netip.Addr]int{}, targets: map[netip.Addr]probe.Target{}}
}

func (f *fakeProber) setDown(a netip.Addr, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down[a] = down
}

func (f *fakeProber) setHang(a netip.Addr, hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang[a] = hang
}

func (f *fakeProber) callsTo(a netip.Addr) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[a]
}

func (f *fakeProber) Probe(ctx context.Context, t probe.Target) probe.Result {
	n := f.cur.Add(1)
	defer f.cur.Add(-1)
	for {
		m := f.max.Load()
		if n <= m || f.max.CompareAndSwap(m, n) {
			break
		}
	}
	total := f.total.Add(1)
	f.mu.Lock()
	a := t.Addr.Addr()
	f.calls[a]++
	f.targets[a] = t
	up := !f.down[a]
	if f.seq != nil {
		up = f.seq(int(total))
	}
	hang := f.hang[a]
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return probe.Result{Reason: "timeout"}
	}
	if f.block.Load() {
		<-ctx.Done()
		time.Sleep(f.linger)
		return probe.Result{Reason: "timeout"}
	}
	if !up {
		return probe.Result{Reason: "connection refused", Duration: time.Millisecond}
	}
	return probe.Result{Up: true, Duration: time.Millisecond}
}

// proberFunc is a Prober made of a function.
type proberFunc func(ctx context.Context, t probe.Target) probe.Result

func (f proberFunc) Probe(ctx context.Context, t probe.Target) probe.Result { return f(ctx, t) }

func factory(p probe.Prober) func(probe.Method) (probe.Prober, error) {
	return func(probe.Method) (probe.Prober, error) { return p, nil }
}

// event is one call of Events, in the order they came.
type event struct {
	kind     string // probe, state, resolved, forgotten, overflow, evicted, deferred
	key      Key
	addr     netip.Addr
	up       bool
	from, to State
	reason   string
	res      Resolution
}

type recorder struct {
	mu  sync.Mutex
	evs []event
}

func (r *recorder) add(e event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, e)
}

func (r *recorder) ProbeDone(k Key, a netip.Addr, res probe.Result) {
	r.add(event{kind: "probe", key: k, addr: a, up: res.Up, reason: res.Reason})
}
func (r *recorder) StateChanged(k Key, from, to State, reason string) {
	r.add(event{kind: "state", key: k, from: from, to: to, reason: reason})
}
func (r *recorder) Resolved(k Key, res Resolution) { r.add(event{kind: "resolved", key: k, res: res}) }
func (r *recorder) Forgotten(k Key)                { r.add(event{kind: "forgotten", key: k}) }
func (r *recorder) Overflow(k Key)                 { r.add(event{kind: "overflow", key: k}) }
func (r *recorder) Evicted(k Key)                  { r.add(event{kind: "evicted", key: k}) }
func (r *recorder) Deferred(k Key, a netip.Addr)   { r.add(event{kind: "deferred", key: k, addr: a}) }
func (r *recorder) Adopted(k Key, from, to State, prober string) {
	r.add(event{kind: "adopted", key: k, from: from, to: to, reason: prober})
}

// events returns the events of kind for k (any key if k is zero).
func (r *recorder) events(kind string, k Key) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, e := range r.evs {
		if e.kind == kind && (k == Key{} || e.key == k) {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) all(k Key) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, e := range r.evs {
		if e.key == k {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls cond until it holds, failing the test after a generous deadline: on a loaded machine a
// 20 ms interval may stretch a lot, and no assertion here depends on how long things take.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// testConfig is a fast monitor configuration.
func testConfig() Config {
	return Config{Interval: 20 * time.Millisecond, Timeout: time.Second, Fails: 3, Rises: 2, Expire: time.Hour}
}

// start returns a started Monitor with a fixed random seed, stopped when the test ends.
func start(t *testing.T, cfg Config, r Resolver, p probe.Prober, ev Events) *Monitor {
	t.Helper()
	m := New(cfg, r, factory(p), ev)
	m.rng = rand.New(rand.NewPCG(1, 2))
	t.Cleanup(m.Stop)
	m.Start()
	return m
}

// requireEmptyRegistry fails if an earlier test left something in the registry.
// repeat calls f every d in a goroutine of its own until the function it returns is called, which waits
// for that goroutine to end.
func repeat(d time.Duration, f func()) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-quit:
				return
			case <-time.After(d):
				f()
			}
		}
	})
	return func() {
		close(quit)
		wg.Wait()
	}
}

func requireEmptyRegistry(t *testing.T) {
	t.Helper()
	if recs, live := reg.size(); recs != 0 || live != 0 {
		t.Fatalf("registry not empty: %d records, %d running monitors", recs, live)
	}
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func targetName(i int) string { return fmt.Sprintf("sip%d.example.com.", i) }
