package srvhealth_test

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/internal/corednstest"
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strings.TrimPrefix(l.Addr().String(), "127.0.0.1:")
}

// tcpPeer accepts connections on addr and, when silent is false, closes them at once: enough for the tcp
// probe. A silent peer keeps every connection open and never writes: a hung server.
func tcpPeer(t *testing.T, addr string, silent bool) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if silent {
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				continue
			}
			c.Close()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l
}

func portOf(l net.Listener) string { return strings.TrimPrefix(l.Addr().String(), "127.0.0.1:") }

func opsZone(upPort, downPort string) string {
	return `$ORIGIN example.com.
$TTL 300
@        IN SOA ns.example.com. hostmaster.example.com. 1 7200 3600 1209600 300
@        IN NS  ns.example.com.
ns       IN A   127.0.0.1
_sip._tcp IN SRV 10 50 ` + upPort + ` live.example.com.
_sip._tcp IN SRV 10 50 ` + downPort + ` dead.example.com.
_sip._tcp IN SRV 20 0 ` + upPort + ` live.example.com.
live     IN A   127.0.0.1
dead     IN A   127.0.0.1
`
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReloadLoop restarts the server 20 times the way the reload plugin does and checks that answers keep
// coming, state survives the reload (the dead target never comes back), and the goroutine count returns to
// its baseline.
func TestReloadLoop(t *testing.T) {
	live := tcpPeer(t, "127.0.0.1:0", false)
	zone := writeZone(t, opsZone(portOf(live), freePort(t)))
	metrics := "127.0.0.1:" + freePort(t)
	corefile := func(i int) string {
		return `example.com:0 {
		prometheus ` + metrics + `
		srvhealth {
			probe _sip._tcp tcp
			interval 100ms
			timeout 50ms
			fails 2
			max_ttl ` + strconv.Itoa(20+i) + `s
		}
		file ` + zone + `
	}`
	}
	s := corednstest.Start(t, corefile(0))
	if !eventually(t, 10*time.Second, func() bool {
		return len(exchange(t, "udp", s.UDP, "_sip._tcp.example.com.", dns.TypeSRV).Answer) == 2
	}) {
		t.Fatal("dead target never left the answer")
	}
	base := settledGoroutines()
	for i := 1; i <= 20; i++ {
		if err := s.Restart(corefile(i)); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		// The restarted server listens on a new port; look it up again.
		udp := s.Servers()[0].LocalAddr().String()
		m := exchange(t, "udp", udp, "_sip._tcp.example.com.", dns.TypeSRV)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 2 {
			t.Fatalf("reload %d: answer %v; the dead target must stay out across reloads", i, m)
		}
	}
	if after := settledGoroutines(); after > base+2 {
		t.Errorf("goroutines: %d after 20 reloads, %d before", after, base)
	}
	if _, body := httpGet(t, "http://"+metrics+"/metrics"); !strings.Contains(body, "coredns_srvhealth_targets 2") {
		t.Errorf("targets gauge wrong after reloads:\n%s", grep(body, "srvhealth_targets"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
