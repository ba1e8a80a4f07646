package fleet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

type noResolver struct{}

func (noResolver) Resolve(context.Context, string) (health.Resolution, error) {
	return health.Resolution{}, nil
}

func noProber(probe.Method) (probe.Prober, error) { return nil, fmt.Errorf("no probes here") }

// freeAddr returns a loopback address whose port was free for TCP and UDP a moment ago.
func freeAddr(t testing.TB) netip.AddrPort {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ap := netip.MustParseAddrPort(l.Addr().String())
		u, err := net.ListenPacket("udp", ap.String())
		l.Close()
		if err == nil {
			u.Close()
			return ap
		}
	}
	t.Fatal("no free port")
	return netip.AddrPort{}
}

// member starts a member of c, apart from the process's own, feeding mon; it leaves when the test ends.
func member(t testing.TB, c Config, mon *health.Monitor) *Member {
	t.Helper()
	m, leave := leavingMember(t, c, mon)
	t.Cleanup(leave)
	return m
}

// leavingMember starts a member as member does and returns it with a function that makes it leave, once,
// whenever the caller likes.
func leavingMember(t testing.TB, c Config, mon *health.Monitor) (*Member, func()) {
	t.Helper()
	l := NewLink(c)
	l.Attach(mon)
	m, err := start(c, l)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	return m, func() {
		once.Do(func() {
			mu.Lock()
			m.close()
			mu.Unlock()
		})
	}
}

// TestJoinPullsState: a member that joins pulls the kept targets' states of the fleet before it is ready,
// as its push/pull with the first peer it reaches. It measures the time and the octets at 1,000 and 10,000
// targets.
func TestJoinPullsState(t *testing.T) {
	key := make([]byte, 32)
	for _, n := range []int{1000, 10000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			if n > 1000 && testing.Short() {
				t.Skip("short")
			}
			cfg := health.Config{Interval: time.Second, Timeout: 500 * time.Millisecond, MaxTargets: 2 * n}
			monA := health.New(cfg, noResolver{}, noProber, nil) // never started: holds what it is given
			t.Cleanup(monA.Stop)
			now := time.Now()
			m := probe.Method{Kind: probe.KindTCP, Transport: probe.TCP}
			for i := range n {
				k := health.NewKey(fmt.Sprintf("sip%d.example.com.", i), 5060, m, "")
				monA.Observe(k, "example.com") // named: kept
				a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				st := health.Down
				if i%2 == 0 {
					st = health.Up
				}
				monA.Adopt(health.Shared{Key: k, Prober: "a", Checked: now, Since: now, Resolved: true,
					Res:   health.Resolution{Addrs: []netip.Addr{a}, TTL: 300},
					Addrs: []health.SharedAddr{{Addr: a, State: st, Fails: 3, Up: st == health.Up, Reason: "connection refused", RTT: time.Millisecond}}})
			}
			if got := len(monA.Shared()); got != n {
				t.Fatalf("A shares %d states, want %d", got, n)
			}
			a := member(t, Config{Bind: freeAddr(t), Key: key}, monA)
			size := len(encodeStates(a.states()))

			monB := health.New(cfg, noResolver{}, noProber, nil)
			t.Cleanup(monB.Stop)
			start := time.Now()
			b := member(t, Config{Bind: freeAddr(t), Key: key, Peers: []string{a.cfg.Bind.String()}}, monB)
			select {
			case <-b.synced:
			case <-time.After(2 * JoinWait):
				t.Fatal("never synced")
			}
			took := time.Since(start)
			if got := monB.Len(); got != n {
				t.Fatalf("B holds %d targets once ready, want %d", got, n)
			}
			down := 0
			for _, r := range monB.Reports() {
				if r.Status.State == health.Down {
					down++
				}
			}
			if down != n/2 {
				t.Errorf("B holds %d targets down, want %d", down, n/2)
			}
			t.Logf("%d targets: joined with their states in %v; push/pull state %d octets (%d per target)", n, took.Round(time.Millisecond), size, size/n)
		})
	}
}

// TestDelegateHostileBytes: whatever bytes memberlist hands the delegate (a broken member, another build),
// nothing panics and nothing that does not check out reaches the Monitor.
func TestDelegateHostileBytes(t *testing.T) {
	mon := health.New(health.Config{Interval: time.Second, Timeout: 500 * time.Millisecond}, noResolver{}, noProber, nil)
	t.Cleanup(mon.Stop)
	m := member(t, Config{Bind: freeAddr(t)}, mon)
	d := (*delegate)(m)
	valid := encodeState(testState())
	for i := range 5000 {
		b := append([]byte(nil), valid...)
		b[i%len(b)] ^= byte(i)
		b = b[:len(b)-i%7]
		d.NotifyMsg(b)
		d.MergeRemoteState(b[1:], i%2 == 0)
	}
	d.NotifyMsg(nil)
	d.MergeRemoteState(nil, true)
	d.MergeRemoteState([]byte("[1,2,{\"t\":5}]"), false)
	// A flipped octet may still spell a valid state of another name (memberlist's encryption is what
	// authenticates a message); whatever was adopted checks out.
	for _, r := range mon.Reports() {
		if !validName(r.Key.Target, false) || r.Prober == "" || !utf8.ValidString(r.Prober) {
			t.Errorf("a mangled message put %+v (prober %q) in the table", r.Key, r.Prober)
		}
	}
	// The genuine message is adopted.
	d.NotifyMsg(valid)
	if _, ok := mon.Report(testState().Key); !ok {
		t.Error("a valid state was not adopted")
	}
	_ = d.LocalState(false)
}

// TestOneMemberPerProcess: links of the same fleet share the process's member (a reload that keeps the
// fleet keeps it), a link of another fleet replaces it (a reload that changes it rejoins), and the last link
// to stop makes it leave.
func TestOneMemberPerProcess(t *testing.T) {
	mon := health.New(health.Config{Interval: time.Second, Timeout: 500 * time.Millisecond}, noResolver{}, noProber, nil)
	t.Cleanup(mon.Stop)
	c := Config{Bind: freeAddr(t)}
	l1, l2 := NewLink(c), NewLink(c)
	l1.Attach(mon)
	l2.Attach(mon)
	if !l1.Owns(health.Key{}) || l1.Ready() {
		t.Fatal("a link not started owns nothing or is ready")
	}
	if err := l1.Start(); err != nil {
		t.Fatal(err)
	}
	if err := l2.Start(); err != nil {
		t.Fatal(err)
	}
	if l1.Member() != l2.Member() {
		t.Fatal("two links of one fleet have two members")
	}
	if !l1.Ready() {
		t.Fatal("a member with no peers is not ready")
	}
	first := l1.Member()
	l1.Stop() // the old instance of a reload that kept the fleet
	if l2.live() == nil {
		t.Fatal("the member left with a link still using it")
	}

	c2 := c
	c2.Probers = 3
	l3 := NewLink(c2)
	l3.Attach(mon)
	if err := l3.Start(); err != nil { // a reload that changed the fleet: same port, new member
		t.Fatal(err)
	}
	if l3.Member() == first || l2.live() != nil {
		t.Fatal("a new configuration did not replace the member")
	}
	l2.Stop() // the old instance goes: nothing happens to the new member
	if l3.live() == nil {
		t.Fatal("stopping a link of the replaced member closed the new one")
	}
	l3.Stop()
	l3.Stop()
	mu.Lock()
	defer mu.Unlock()
	if cur != nil {
		t.Fatal("a member stays after its last link stopped")
	}
}
