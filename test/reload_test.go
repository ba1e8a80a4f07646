package test

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

// TestReload reloads one server 26 times the way the reload plugin does, on a fixed address as in
// production: first 20 times back to back, with a query after each, then 6 times while eight clients send a
// bounded stream of UDP queries, intercepted SRV and plain A. Answers keep coming (no SERVFAIL, no query
// unanswered within 2 s, no retries), health state survives every reload (the dead target never comes
// back), the goroutine count returns to its baseline after each phase and the prometheus plugin's targets
// gauge still counts the two targets.
func TestReload(t *testing.T) {
	const zone = "reload.test."
	live := TCPPeer(t, false)
	db := WriteFile(t, "db", liveDeadZone("reload.test", live, ClosedPort(t)))
	port := FreePort(t)
	metrics := "127.0.0.1:" + FreePort(t)
	corefile := func(i int) string {
		return `reload.test:` + port + ` {
		prometheus ` + metrics + `
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
	s := CoreDNS(t, corefile(0))
	addr := "127.0.0.1:" + port
	if !Eventually(10*time.Second, func() bool {
		return len(Exchange(t, "udp", addr, "_sip._tcp."+zone, dns.TypeSRV).Answer) == 2
	}) {
		t.Fatal("dead target never left the answer")
	}
	reloads := 0
	targetsGauge := func(t *testing.T) {
		t.Helper()
		if _, body := HTTPGet(t, "http://"+metrics+"/metrics"); !strings.Contains(body, "coredns_srvhealth_targets 2") {
			t.Errorf("targets gauge wrong after %d reloads:\n%s", reloads, LinesWith(body, "srvhealth_targets"))
		}
	}
	base := SettledGoroutines()

	if !t.Run("back to back", func(t *testing.T) {
		for range 20 {
			reloads++
			if err := s.Restart(corefile(reloads)); err != nil {
				t.Fatalf("reload %d: %v", reloads, err)
			}
			m := Exchange(t, "udp", addr, "_sip._tcp."+zone, dns.TypeSRV)
			if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 2 {
				t.Fatalf("reload %d: answer %v; the dead target must stay out across reloads", reloads, m)
			}
		}
		after := SettledGoroutines()
		if after > base+2 {
			t.Errorf("goroutines: %d after 20 reloads, %d before", after, base)
		}
		base = after
		targetsGauge(t)
	}) {
		return
	}

	t.Run("under load", func(t *testing.T) {
		const (
			total       = 20000
			clients     = 8
			loadReloads = 6
			deadline    = 30 * time.Second
		)
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
					case srv && slices.Contains(SRVTargets(r), "dead."+zone):
						deadBack.Add(1)
					}
				}
			})
		}
		var atReload []int64
		for range loadReloads {
			time.Sleep(500 * time.Millisecond)
			atReload = append(atReload, next.Load())
			reloads++
			if err := s.Restart(corefile(reloads)); err != nil {
				t.Errorf("reload %d: %v", reloads, err)
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
		if after := SettledGoroutines(); after > base+5 {
			t.Errorf("goroutines: %d after the load and %d reloads, %d before", after, loadReloads, base)
		}
		targetsGauge(t)
	})
}

// TestFailedReloadLeaksNothing reloads into a Corefile whose second server block cannot bind (its port is
// taken). Caddy runs the new instance's OnStartup before it binds and, when binding fails, drops the
// instance without running its OnShutdown; both of its srvhealth blocks have warm names, so they resolve
// and probe at once. Afterwards the goroutines must be back to the baseline and the registry must hold
// nothing of the dropped instance, while the running instance keeps answering. (The zones are not
// reloaded from disk: the file plugin's reload goroutine of each zone of the dropped instance is itself
// left running by CoreDNS v1.15.0.)
func TestFailedReloadLeaksNothing(t *testing.T) {
	dead := FreePort(t) // nothing listens: the probes are refused
	zone := func(origin string) string {
		return WriteFile(t, "db."+origin, `$ORIGIN `+origin+`.
$TTL 300
@   IN SOA ns hostmaster 1 7200 3600 1209600 300
@   IN NS  ns
ns  IN A   127.0.0.1
_sip._tcp IN SRV 10 10 `+dead+` sip
sip IN A   127.0.0.1
`)
	}
	block := func(origin, port string) string {
		return origin + `:` + port + ` {
		srvhealth {
			probe _sip._tcp tcp
			interval 200ms
			timeout 100ms
			warm _sip._tcp.` + origin + `
		}
		file ` + zone(origin) + ` {
			reload 0
		}
	}
	`
	}
	first := block("example.com", FreePort(t))
	s := CoreDNS(t, first)
	if !Eventually(5*time.Second, func() bool {
		return len(Exchange(t, "udp", s.UDP, "_sip._tcp.example.com.", dns.TypeSRV).Answer) == 1
	}) {
		t.Fatal("no answer from the first instance")
	}
	base := SettledGoroutines()

	// The second block's port is taken on every address, so the new instance fails to bind it.
	taken := FreePort(t)
	l, err := net.Listen("tcp", ":"+taken)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	newOnly := health.NewKey("sip.example.net.", portNumber(t, dead), probe.Method{Kind: probe.KindTCP, Transport: probe.TCP}, "example.net")
	if err := s.Restart(first + block("example.net", taken)); err == nil {
		t.Fatal("the reload bound a port that is taken")
	}

	if after := SettledGoroutines(); after > base {
		t.Errorf("goroutines: %d after the failed reload, %d before", after, base)
	}
	if health.Registered(newOnly) {
		t.Errorf("the registry still holds %s, which only the dropped instance knew", newOnly.Target)
	}
	if m := Exchange(t, "udp", s.UDP, "_sip._tcp.example.com.", dns.TypeSRV); len(m.Answer) != 1 {
		t.Errorf("the running instance answers %v after the failed reload", m)
	}
}

func portNumber(t *testing.T, port string) uint16 {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(a.Port)
}
