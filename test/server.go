// Package test holds the tests that start real servers: CoreDNS with srvhealth in its chain, and the SIP
// and XMPP servers (Kamailio, Prosody, ejabberd, baresip) it probes. CoreDNS keeps such tests in its own
// top-level test/ package, one topic per file; this file holds the helpers they share, written once.
package test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
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
	dto "github.com/prometheus/client_model/go"

	"github.com/srvhealth/srvhealth/internal/corednstest"
	"github.com/srvhealth/srvhealth/internal/fakepeer"
	"github.com/srvhealth/srvhealth/internal/testpeer"
)

// CoreDNS starts a CoreDNS server from corefile and stops it when the test ends.
func CoreDNS(t testing.TB, corefile string) *corednstest.Server {
	return corednstest.Start(t, corefile)
}

// WriteFile writes content to a file named name in a temporary directory and returns its path.
func WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Exchange sends the query name/qtype over network ("udp" or "tcp") to addr and fails the test when no
// reply comes within 2 s.
func Exchange(t testing.TB, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return ExchangeMsg(t, network, addr, m)
}

// ExchangeMsg sends m over network to addr and fails the test when no reply comes within 2 s.
func ExchangeMsg(t testing.TB, network, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s %s: %v", network, m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], err)
	}
	return r
}

// SRVTargets returns the targets of the SRV records of m's answer, sorted.
func SRVTargets(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, s.Target)
		}
	}
	slices.Sort(out)
	return out
}

// Eventually polls f every 20 ms until it returns true or within has passed, and returns f's last answer.
func Eventually(within time.Duration, f func() bool) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if f() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f()
}

// WaitTargets asks addr over UDP for the SRV records of name until their targets, sorted, are want, and
// returns the last answer and how long that took; it fails the test, naming what it waited for, when they
// are not within `within`.
func WaitTargets(t testing.TB, what, addr, name string, want []string, within time.Duration) (*dns.Msg, time.Duration) {
	t.Helper()
	start := time.Now()
	var m *dns.Msg
	if !Eventually(within, func() bool {
		m = Exchange(t, "udp", addr, name, dns.TypeSRV)
		return slices.Equal(SRVTargets(m), want)
	}) {
		t.Fatalf("%s: targets %v after %v, want %v", what, SRVTargets(m), within, want)
	}
	return m, time.Since(start)
}

// FreePort returns a port on 127.0.0.1 that was free for both TCP and UDP a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	return strconv.Itoa(testpeer.FreePort(t, "127.0.0.1", true))
}

// MetricSeries returns the values of the series of a metric in the process's default registry (where
// both srvhealth's collectors and the prometheus plugin live), keyed by the value of label; counters of
// the same label value are summed.
func MetricSeries(t testing.TB, name, label string) map[string]float64 {
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

// SettledGoroutines returns the goroutine count once it stops falling (at most 2 s).
func SettledGoroutines() int {
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

// TCPPeer runs a TCP server on 127.0.0.1 until the test ends and returns its port. A live one closes each
// connection at once, enough for the tcp probe; a silent one holds them and never writes: a hung server.
func TCPPeer(t testing.TB, silent bool) string {
	t.Helper()
	var handle func(net.Conn)
	if silent {
		handle = fakepeer.Silent
	}
	return portString(fakepeer.TCP(t, handle))
}

// CountingPeer is a live TCPPeer that also counts the connections it accepted: a record of whether
// anything connected at all.
func CountingPeer(t testing.TB) (port string, accepted *atomic.Int64) {
	t.Helper()
	accepted = new(atomic.Int64)
	return portString(fakepeer.TCP(t, func(net.Conn) { accepted.Add(1) })), accepted
}

// ConnTally records the connections a TallyPeer accepted: when each came, and how many were open at once.
type ConnTally struct {
	mu            sync.Mutex
	at            []time.Time
	open, maxOpen int
}

func (c *ConnTally) opened() {
	c.mu.Lock()
	c.at = append(c.at, time.Now())
	c.open++
	c.maxOpen = max(c.maxOpen, c.open)
	c.mu.Unlock()
}

func (c *ConnTally) closed() {
	c.mu.Lock()
	c.open--
	c.mu.Unlock()
}

// Count returns how many connections were accepted.
func (c *ConnTally) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.at)
}

// MaxOpen returns the most connections that were open at once.
func (c *ConnTally) MaxOpen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxOpen
}

// MaxWithin returns the most connections accepted within any window of length d.
func (c *ConnTally) MaxWithin(d time.Duration) int {
	c.mu.Lock()
	at := slices.Clone(c.at)
	c.mu.Unlock()
	slices.SortFunc(at, time.Time.Compare)
	most, first := 0, 0
	for i := range at {
		for at[i].Sub(at[first]) >= d {
			first++
		}
		most = max(most, i-first+1)
	}
	return most
}

// TallyPeer is a TCPPeer that also records every connection it accepts in a ConnTally: how many came, how
// close together, and how many it held at once. A silent one holds each until the client hangs up.
func TallyPeer(t testing.TB, silent bool) (port string, tally *ConnTally) {
	t.Helper()
	tally = new(ConnTally)
	return portString(fakepeer.TCP(t, func(c net.Conn) {
		tally.opened()
		defer tally.closed()
		if silent {
			fakepeer.Silent(c)
		}
	})), tally
}

// ClosedPort returns a TCP port on 127.0.0.1 on which nothing listens: connections are refused.
func ClosedPort(t testing.TB) string {
	t.Helper()
	return portString(fakepeer.ClosedPort(t))
}

func portString(ap netip.AddrPort) string { return strconv.Itoa(int(ap.Port())) }

// MetricValue returns the value of the series of metric name whose labels include every one of labels, and
// whether there is one (counters and gauges).
func MetricValue(t testing.TB, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	ms := series(t, name, labels)
	if len(ms) == 0 {
		return 0, false
	}
	return ms[0].GetGauge().GetValue() + ms[0].GetCounter().GetValue(), true
}

// MetricSum returns the sum of the series of metric name whose labels include every one of labels
// (counters and gauges); 0 when there is none.
func MetricSum(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	sum := 0.0
	for _, m := range series(t, name, labels) {
		sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	return sum
}

// series returns the series of metric name in the default registry whose labels include every one of
// labels.
func series(t testing.TB, name string, labels map[string]string) []*dto.Metric {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// Srvhealth builds the srvhealth command into a temporary directory and returns a function that runs it
// with args and returns its standard output, standard error and exit status. Tests that start real
// servers run the real binary, as an operator or a CI job does.
func Srvhealth(t testing.TB) func(args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "srvhealth")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(goTool, "build", "-o", bin, "github.com/srvhealth/srvhealth/cmd/srvhealth")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/srvhealth: %v\n%s", err, out)
	}
	return func(args ...string) (string, string, int) {
		t.Helper()
		var out, errb strings.Builder
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return out.String(), errb.String(), ee.ExitCode()
		case err != nil:
			t.Fatalf("srvhealth %v: %v", args, err)
		}
		return out.String(), errb.String(), 0
	}
}

// HTTPGet fetches url and returns the status code and body; on a transport error the code is 0 and the body
// is the error's text.
func HTTPGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// LinesWith returns the lines of text that contain sub: the part of a scrape or a log worth showing when a
// test fails.
func LinesWith(text, sub string) string {
	var out []string
	for l := range strings.Lines(text) {
		if strings.Contains(l, sub) {
			out = append(out, strings.TrimSuffix(l, "\n"))
		}
	}
	return strings.Join(out, "\n")
}

// liveDeadZone is a zone for origin whose _sip._tcp service has a live target (listed twice, at priorities
// 10 and 20) on upPort and a dead one on downPort, both at 127.0.0.1: once the dead one is probed down, the
// answer holds two records.
func liveDeadZone(origin, upPort, downPort string) string {
	return strings.ReplaceAll(`$ORIGIN example.com.
$TTL 300
@        IN SOA ns.example.com. hostmaster.example.com. 1 7200 3600 1209600 300
@        IN NS  ns.example.com.
ns       IN A   127.0.0.1
_sip._tcp IN SRV 10 50 `+upPort+` live.example.com.
_sip._tcp IN SRV 10 50 `+downPort+` dead.example.com.
_sip._tcp IN SRV 20 0 `+upPort+` live.example.com.
live     IN A   127.0.0.1
dead     IN A   127.0.0.1
`, "example.com", origin)
}
