package srvhealth_test

import (
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/srvhealth/srvhealth/internal/corednstest"
)

// metricSeries returns the values of the series of a metric in the process's default registry (where
// both srvhealth's collectors and the prometheus plugin live), keyed by the value of label.
func metricSeries(t *testing.T, name, label string) map[string]float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label {
					key = lp.GetValue()
				}
			}
			switch {
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Counter != nil:
				out[key] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// freeUDPTCPPort returns a port on 127.0.0.1 free for both UDP and TCP a moment ago.
func freeUDPTCPPort(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := portOf(l)
		pc, err := net.ListenPacket("udp", "127.0.0.1:"+port)
		l.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return ""
}

// settledGoroutines returns the goroutine count once it stops falling (at most 2 s).
func settledGoroutines() int {
	runtime.GC()
	n := runtime.NumGoroutine()
	for range 100 {
		time.Sleep(20 * time.Millisecond)
		if m := runtime.NumGoroutine(); m <= n {
			n = m
		}
	}
	return n
}

// TestReloadUnderLoad reloads the Corefile six times on a fixed address while eight clients send a
// bounded stream of UDP queries, intercepted SRV and plain A: no query may get SERVFAIL or go
// unanswered (2 s timeout, no retries), the dead target must never come back (state survives reloads),
// and the goroutine count must return to its baseline once the load stops.
func TestReloadUnderLoad(t *testing.T) {
	const (
		zone     = "reload-hard.test."
		total    = 20000
		clients  = 8
		reloads  = 6
		deadline = 30 * time.Second
	)
	live := tcpPeer(t, "127.0.0.1:0", false)
	db := writeZone(t, strings.ReplaceAll(opsZone(portOf(live), freePort(t)), "example.com", "reload-hard.test"))
	port := freeUDPTCPPort(t)
	corefile := func(i int) string {
		return `reload-hard.test:` + port + ` {
		srvhealth {
			probe _sip._tcp tcp
			interval 100ms
			timeout 50ms
			fails 2
			max_ttl ` + strconv.Itoa(20+i) + `s
		}
		file ` + db + `
	}`
	}
	s := corednstest.Start(t, corefile(0))
	addr := "127.0.0.1:" + port
	if !eventually(t, 10*time.Second, func() bool {
		return len(exchange(t, "udp", addr, "_sip._tcp."+zone, dns.TypeSRV).Answer) == 2
	}) {
		t.Fatal("dead target never left the answer")
	}
	base := settledGoroutines()

	var (
		next, servfail, lost, deadBack, wrong atomic.Int64
		firstErr                              sync.Once
		errText                               atomic.Value
		wg                                    sync.WaitGroup
	)
	stop := time.Now().Add(deadline)
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			// Paced at most one query per client every 2 ms (4,000/s in all), so the 20,000 queries take
			// about five seconds and the reloads below all happen under load.
			pace := time.NewTicker(2 * time.Millisecond)
			defer pace.Stop()
			for time.Now().Before(stop) {
				<-pace.C
				i := next.Add(1)
				if i > total {
					return
				}
				q := new(dns.Msg)
				srv := (int(i)+w)%2 == 0
				if srv {
					q.SetQuestion("_sip._tcp."+zone, dns.TypeSRV)
				} else {
					q.SetQuestion("live."+zone, dns.TypeA)
				}
				r, _, err := c.Exchange(q, addr)
				switch {
				case err != nil:
					lost.Add(1)
					firstErr.Do(func() { errText.Store(err.Error()) })
				case r.Rcode == dns.RcodeServerFailure:
					servfail.Add(1)
				case r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0:
					wrong.Add(1)
				case srv && slices.Contains(srvTargets(r), "dead."+zone):
					deadBack.Add(1)
				}
			}
		})
	}
	var atReload []int64
	for i := 1; i <= reloads; i++ {
		time.Sleep(500 * time.Millisecond)
		atReload = append(atReload, next.Load())
		if err := s.Restart(corefile(i)); err != nil {
			t.Errorf("reload %d: %v", i, err)
			break
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	sent := min(next.Load(), total)
	t.Logf("%d queries in %s (%.0f/s), reloads at query %v; servfail %d, lost %d, wrong %d, dead target back %d",
		sent, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds(), atReload,
		servfail.Load(), lost.Load(), wrong.Load(), deadBack.Load())
	if atReload[len(atReload)-1] >= sent {
		t.Errorf("the load ended (%d queries) before the last reload; the reloads did not happen under load", sent)
	}
	if n := servfail.Load(); n != 0 {
		t.Errorf("%d SERVFAIL answers across reloads", n)
	}
	if n := lost.Load(); n != 0 {
		t.Errorf("%d queries lost (client timeout) across reloads; first error: %v", n, errText.Load())
	}
	if n := wrong.Load(); n != 0 {
		t.Errorf("%d answers with another rcode or an empty answer", n)
	}
	if n := deadBack.Load(); n != 0 {
		t.Errorf("the dead target came back in %d answers: health state lost on reload", n)
	}
	if after := settledGoroutines(); after > base+5 {
		t.Errorf("goroutines: %d after the load and %d reloads, %d before", after, reloads, base)
	}
}
