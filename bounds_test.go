package srvhealth

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/srvhealth/srvhealth/internal/fakepeer"
)

// perNameNext is a backend that answers _sip._tcp.nN.<zone> SRV with the single target tN.<zone> on port,
// and the A query of any name with 127.0.0.1: every SRV name has its own target.
func perNameNext(port uint16) test.Handler {
	return test.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		q := r.Question[0]
		switch q.Qtype {
		case dns.TypeSRV:
			rest := strings.TrimPrefix(q.Name, "_sip._tcp.")
			label, zone, _ := strings.Cut(rest, ".")
			m.Answer = []dns.RR{&dns.SRV{
				Hdr:      dns.RR_Header{Name: q.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 300},
				Priority: 10, Weight: 10, Port: port,
				Target: "t" + strings.TrimPrefix(label, "n") + "." + zone,
			}}
		case dns.TypeA:
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
				A:   net.IPv4(127, 0, 0, 1),
			}}
		}
		w.WriteMsg(m)
		return m.Rcode, nil
	})
}

// startedHandler builds a Handler the way setup does (parse, newHandler, a real Monitor and probers),
// starts it and shuts it down when the test ends.
func startedHandler(t *testing.T, corefile string, next test.Handler) *Handler {
	t.Helper()
	h, err := newHandler(mustParse(t, corefile))
	if err != nil {
		t.Fatal(err)
	}
	h.Next = next
	if err := h.OnStartup(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.OnShutdown() })
	return h
}

// closedPort returns a TCP port on 127.0.0.1 on which nothing listens: probes of it are refused.
func closedPort(t *testing.T) uint16 {
	t.Helper()
	return fakepeer.ClosedPort(t).Port()
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestMaxTargetsUnderFlood sends 100,000 SRV queries, each for a name with a target of its own, from
// several goroutines through a real Monitor with max_targets 1000: the table must never hold more than
// that, every refused target must be counted as overflow (and served unfiltered): a name seen once never
// evicts another (it would cost a resolution and a probe round), and memory must stay bounded.
func TestMaxTargetsUnderFlood(t *testing.T) {
	const (
		queries    = 100_000
		maxTargets = 1000
		workers    = 4
		deadline   = 60 * time.Second
	)
	port := closedPort(t) // 127.0.0.1, nothing listening: every probe is refused at once
	h := startedHandler(t, `srvhealth flood.bounds.test {
		interval 1s
		timeout 200ms
		fails 1
		max_targets `+strconv.Itoa(maxTargets)+`
	}`, perNameNext(port))

	overflow0, evicted0 := testutil.ToFloat64(overflowCount), testutil.ToFloat64(evictedCount)
	heap0 := heapInuse()
	start := time.Now()
	stop := start.Add(deadline)

	var next, maxLen atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			w := &test.ResponseWriter{}
			for time.Now().Before(stop) {
				i := next.Add(1)
				if i > queries {
					return
				}
				req := new(dns.Msg)
				req.SetQuestion("_sip._tcp.n"+strconv.FormatInt(i, 10)+".flood.bounds.test.", dns.TypeSRV)
				if _, err := h.ServeDNS(context.Background(), w, req); err != nil {
					t.Errorf("query %d: %v", i, err)
					return
				}
				if n := int64(h.monitor.Len()); n > maxLen.Load() {
					maxLen.Store(n) // racy max, but any value above the bound is caught by some store
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	sent := min(next.Load(), queries)
	if sent < queries {
		t.Fatalf("only %d of %d queries sent within %s", sent, queries, deadline)
	}

	if n := h.monitor.Len(); n != maxTargets {
		t.Errorf("monitor holds %d targets after %d distinct ones, want exactly max_targets %d", n, sent, maxTargets)
	}
	if m := maxLen.Load(); m > maxTargets {
		t.Errorf("monitor held %d targets at some point, above max_targets %d", m, maxTargets)
	}
	// The doorkeeper's false positives (about 3%) let some in, each in place of a name seen once; every
	// other target past the bound is refused and counted.
	overflowed, evicted := testutil.ToFloat64(overflowCount)-overflow0, testutil.ToFloat64(evictedCount)-evicted0
	if got, want := overflowed+evicted, float64(queries-maxTargets); got != want {
		t.Errorf("overflow %v + evicted %v = %v, want %v (every distinct target past max_targets)", overflowed, evicted, got, want)
	}
	if evicted > 0.06*float64(queries) {
		t.Errorf("%v names seen once evicted others, want under 6%%", evicted)
	}
	// A target past the bound is served unfiltered.
	m := serve(t, h, "_sip._tcp.n999999999.flood.bounds.test.", dns.TypeSRV, false)
	if got := targets(m); len(got) != 1 || got[0] != "t999999999.flood.bounds.test." {
		t.Errorf("overflowed target not served: %v", got)
	}

	heap1 := heapInuse()
	growth := int64(heap1) - int64(heap0)
	t.Logf("%d queries from %d goroutines in %s (%.0f/s); monitor %d targets; HeapInuse %d -> %d KiB (growth %+d KiB)",
		sent, workers, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds(), h.monitor.Len(),
		heap0>>10, heap1>>10, growth>>10)
	if growth > 64<<20 {
		t.Errorf("HeapInuse grew by %d MiB during the flood, want < 64 MiB", growth>>20)
	}
}

// silentListener accepts TCP connections on loopback and never writes; it tracks how many are open at
// once. A connection counts as closed when a read returns an error (the prober closed it).
type silentListener struct {
	net.Listener
	port     int
	open     atomic.Int64
	accepted atomic.Int64
	closed   atomic.Int64
	// transient counts the accepts at which our side saw more than inFlight connections open and
	// had to ask the kernel.
	transient atomic.Int64
	mu        sync.Mutex
	max       int64 // most connections open at once
	// beforeClose is the number of connections accepted before the first one closed: while no probe has
	// timed out yet, no slot was released, so this count is exact.
	beforeClose int64
	conns       []net.Conn
}

func newSilentListener(t *testing.T) *silentListener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentListener{Listener: l, port: l.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			a := s.accepted.Add(1)
			n := s.open.Add(1)
			if n > inFlight {
				// Our side lags: the FIN of a connection the prober closed can reach this socket some
				// milliseconds after the prober's next connection is accepted (seen here: the prober's
				// socket in FIN_WAIT1 while ours is still ESTABLISHED). Ask the kernel for the prober's
				// side, whose socket leaves ESTABLISHED when it is closed. One read of /proc/net/tcp is no
				// snapshot (a socket closed and one opened while it walks the table are both counted),
				// so take the lowest of three reads: a probe over the bound holds its connection for the
				// whole timeout and shows in all three.
				s.transient.Add(1)
				for i := range 3 {
					if i > 0 {
						time.Sleep(200 * time.Microsecond)
					}
					if k, ok := establishedTo(s.port); ok && int64(k) < n {
						n = int64(k)
					}
				}
			}
			s.mu.Lock()
			if s.closed.Load() == 0 {
				s.beforeClose = a
			}
			s.max = max(s.max, n)
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			wg.Go(func() {
				buf := make([]byte, 512)
				for {
					if _, err := c.Read(buf); err != nil {
						s.closed.Add(1)
						s.open.Add(-1)
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	return s
}

func (s *silentListener) peaks() (maxOpen, beforeClose int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max, s.beforeClose
}

// establishedTo counts the ESTABLISHED IPv4 TCP sockets connected to 127.0.0.1:port (the prober's side of
// our listener's connections), from /proc/net/tcp; false when that file cannot be read.
func establishedTo(port int) (int, bool) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 3 && fields[2] == want && fields[3] == "01" {
			n++
		}
	}
	return n, sc.Err() == nil
}

// inFlight is the max_in_flight of TestProbesInFlightBounded: below the demand of its 300 hung targets.
const inFlight = 64

// TestProbesInFlightBounded points 300 targets at one hung SIP server (accepts TCP, never answers) and
// checks on the server's side that no more than max_in_flight probes are ever connected at once, while
// the probes do pile up to that bound.
func TestProbesInFlightBounded(t *testing.T) {
	const targetsN = 300
	hung := newSilentListener(t)
	h := startedHandler(t, `srvhealth inflight.bounds.test {
		interval 3s
		timeout 1s
		fails 1
		max_in_flight `+strconv.Itoa(inFlight)+`
		max_per_server 1000
	}`, perNameNext(uint16(hung.port)))

	for i := range targetsN {
		serve(t, h, "_sip._tcp.n"+strconv.Itoa(i)+".inflight.bounds.test.", dns.TypeSRV, false)
	}
	if n := h.monitor.Len(); n != targetsN {
		t.Fatalf("monitor holds %d targets, want %d", n, targetsN)
	}
	// The first rounds of 300 targets are spread over the 3 s interval, about 100 in the first second, and
	// each probe holds its connection for the whole 1 s timeout: demand is above the bound from the
	// start, and from the first timeouts on, every released slot is taken again at once. Wait until the
	// slots have been reused (or 10 s, on a machine too loaded for that), then check the peaks.
	deadline := time.Now().Add(10 * time.Second)
	for hung.accepted.Load() < 2*inFlight && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	peak, beforeClose := hung.peaks()
	accepted := hung.accepted.Load()
	t.Logf("%d connections accepted, %d before the first closed, at most %d open at once (bound %d); %d accepts saw a closed connection not yet reported closed",
		accepted, beforeClose, peak, inFlight, hung.transient.Load())
	if beforeClose > inFlight {
		t.Errorf("%d connections accepted before the first probe timed out, above inFlight %d", beforeClose, inFlight)
	}
	if peak > inFlight {
		t.Errorf("%d probe connections open at once, above inFlight %d", peak, inFlight)
	}
	if accepted < 2*inFlight {
		t.Errorf("%d connections accepted in 10 s, want slots reused after each timeout (at least %d)", accepted, 2*inFlight)
	}
}
