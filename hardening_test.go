package srvhealth_test

import (
	"fmt"
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

func exchangeMsg(t *testing.T, network, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s: %v", network, m.Question[0].Name, err)
	}
	return r
}

// TestUpstreamOdditiesPassThrough sends the answers real zones have and clients choke on: an RRset too
// big for plain UDP, hundreds of records over TCP, a mixed-case question and IDN targets.
func TestUpstreamOdditiesPassThrough(t *testing.T) {
	const zone = "odd-hard.test."
	live := tcpPeer(t, "127.0.0.1:0", false)
	deadPort := freePort(t)
	var z strings.Builder
	z.WriteString(`$ORIGIN odd-hard.test.
$TTL 300
@    IN SOA ns hostmaster 1 7200 3600 1209600 300
@    IN NS  ns
ns   IN A   127.0.0.1
`)
	const big, huge = 60, 300
	for i := range big {
		fmt.Fprintf(&z, "_sip._udp IN SRV %d 10 5060 udp%d\nudp%d IN A 127.0.0.1\n", i%3, i, i)
	}
	for i := range huge {
		fmt.Fprintf(&z, "_sip._tcp IN SRV %d %d 5060 tcp%d\ntcp%d IN A 127.0.0.%d\n", (i*7)%5, i%4, i, i, 1+i%200)
	}
	fmt.Fprintf(&z, `_xmpp-client._tcp IN SRV 10 50 %[1]s Live
_xmpp-client._tcp IN SRV 10 50 %[2]s dead
_xmpp-server._tcp IN SRV 10 50 %[1]s xn--bcher-kva
_xmpp-server._tcp IN SRV 10 50 %[2]s xn--mnchen-3ya
live IN A 127.0.0.1
dead IN A 127.0.0.1
xn--bcher-kva IN A 127.0.0.1
xn--mnchen-3ya IN A 127.0.0.1
`, portOf(live), deadPort)
	s := corednstest.Start(t, `odd-hard.test:0 {
		srvhealth {
			probe _sip._udp none
			probe _sip._tcp none
			probe _xmpp-client._tcp tcp
			probe _xmpp-server._tcp tcp
			interval 100ms
			timeout 50ms
			fails 1
		}
		file `+writeZone(t, z.String())+`
	}`)

	t.Run("udp without EDNS", func(t *testing.T) {
		check := func(when string) {
			q := new(dns.Msg)
			q.SetQuestion("_sip._udp."+zone, dns.TypeSRV)
			// dns.Client reads at most 512 bytes for a question without EDNS: a reply that does not fit
			// fails to parse here.
			r := exchangeMsg(t, "udp", s.UDP, q)
			if !r.Response || r.Rcode != dns.RcodeSuccess || len(r.Question) != 1 || r.Question[0] != q.Question[0] {
				t.Fatalf("%s: not a valid reply to %v: %v", when, q.Question[0], r)
			}
			if r.IsEdns0() != nil {
				t.Errorf("%s: reply has EDNS, the question had none", when)
			}
			if n := len(srvTargets(r)); !r.Truncated && n != big {
				t.Errorf("%s: %d SRV records without TC, want all %d or TC set", when, n, big)
			}
			r.Compress = true // as sent: a name compressed reply
			if b, err := r.Pack(); err != nil || len(b) > dns.MinMsgSize {
				t.Errorf("%s: reply of %d bytes (err %v), want at most %d", when, len(b), err, dns.MinMsgSize)
			}
			full := exchangeMsg(t, "tcp", s.TCP, q)
			if n := len(srvTargets(full)); full.Truncated || n != big {
				t.Errorf("%s: TCP retry got %d SRV records (TC %v), want all %d", when, n, full.Truncated, big)
			}
			t.Logf("%s: UDP reply TC=%v with %d records; TCP %d", when, r.Truncated, len(srvTargets(r)), len(srvTargets(full)))
		}
		check("unresolved")
		time.Sleep(500 * time.Millisecond) // every target resolved and (probe none) up
		check("resolved")
	})

	t.Run("hundreds over tcp", func(t *testing.T) {
		for _, when := range []string{"unresolved", "resolved"} {
			if when == "resolved" {
				time.Sleep(500 * time.Millisecond)
			}
			q := new(dns.Msg)
			q.SetQuestion("_sip._tcp."+zone, dns.TypeSRV)
			r := exchangeMsg(t, "tcp", s.TCP, q)
			var prios []uint16
			seen := map[string]bool{}
			for _, rr := range r.Answer {
				if srv, ok := rr.(*dns.SRV); ok {
					prios = append(prios, srv.Priority)
					seen[srv.Target] = true
				}
			}
			if len(prios) != huge || len(seen) != huge {
				t.Errorf("%s: %d SRV records (%d distinct targets), want all %d", when, len(prios), len(seen), huge)
			}
			if !slices.IsSorted(prios) {
				t.Errorf("%s: priorities not ascending: %v", when, prios)
			}
			extra := 0
			for _, rr := range r.Extra {
				if a, ok := rr.(*dns.A); ok {
					if !seen[a.Hdr.Name] {
						t.Errorf("%s: additional address of a target not in the answer: %s", when, a)
					}
					extra++
				}
			}
			if extra != huge {
				t.Errorf("%s: %d additional addresses, want one for each of %d targets", when, extra, huge)
			}
		}
	})

	t.Run("mixed case question", func(t *testing.T) {
		qname := "_XMPP-Client._TCP.Odd-Hard.TEST."
		var r *dns.Msg
		if !eventually(t, 5*time.Second, func() bool {
			r = exchange(t, "udp", s.UDP, qname, dns.TypeSRV)
			return len(srvTargets(r)) == 1
		}) {
			t.Fatalf("mixed-case query: targets %v, want the dead one filtered out", srvTargets(r))
		}
		if got := strings.ToLower(srvTargets(r)[0]); got != "live."+zone {
			t.Errorf("mixed-case query kept %s, want live.%s", got, zone)
		}
		if r.Question[0].Name != qname {
			t.Errorf("question name %q, want the client's %q", r.Question[0].Name, qname)
		}
	})

	t.Run("idn targets", func(t *testing.T) {
		var r *dns.Msg
		if !eventually(t, 5*time.Second, func() bool {
			r = exchange(t, "udp", s.UDP, "_xmpp-server._tcp."+zone, dns.TypeSRV)
			_, probed := metricSeries(t, "coredns_srvhealth_target_up", "target")["xn--bcher-kva."+zone]
			return len(srvTargets(r)) == 1 && probed
		}) {
			t.Fatalf("IDN targets %v, want the dead one filtered out once both are probed", srvTargets(r))
		}
		if got := srvTargets(r); got[0] != "xn--bcher-kva."+zone {
			t.Errorf("kept %v, want xn--bcher-kva.%s", got, zone)
		}
		up := metricSeries(t, "coredns_srvhealth_target_up", "target")
		if up["xn--bcher-kva."+zone] != 1 || up["xn--mnchen-3ya."+zone] != 0 {
			t.Errorf("target_up of the IDN targets: %v", grepSeries(up, "xn--"))
		}
	})
}

func grepSeries(m map[string]float64, sub string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.Contains(k, sub) {
			out[k] = v
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
