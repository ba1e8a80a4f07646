package test

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/internal/dnsapi"
	"github.com/srvhealth/srvhealth/internal/fakepeer"
	"github.com/srvhealth/srvhealth/internal/testpeer"
)

// The timing of every sync test: a dead target is out of the primary's answer within
// syncInterval x syncFails + syncTimeout, plus one UPDATE.
const (
	syncInterval = 200 * time.Millisecond
	syncTimeout  = 300 * time.Millisecond
	syncFails    = 2
	syncRises    = 2
)

// syncTarget is a TCP target that a test can take away and bring back on the same port.
type syncTarget struct {
	t      testing.TB
	addr   string
	handle func(net.Conn)
	srv    *fakepeer.Server
}

func newSyncTarget(t testing.TB, handle func(net.Conn)) *syncTarget {
	t.Helper()
	s, err := fakepeer.ListenTCP("127.0.0.1:0", handle)
	if err != nil {
		t.Fatal(err)
	}
	st := &syncTarget{t: t, addr: s.Addr().String(), handle: handle, srv: s}
	t.Cleanup(st.stop)
	return st
}

func (s *syncTarget) port() string { return strconv.Itoa(int(netip.MustParseAddrPort(s.addr).Port())) }

func (s *syncTarget) stop() {
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

func (s *syncTarget) start() {
	s.t.Helper()
	if s.srv != nil {
		return
	}
	var err error
	for range 50 { // the port was ours a moment ago; another test may hold it for an instant
		if s.srv, err = fakepeer.ListenTCP(s.addr, s.handle); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("listen again on %s: %v", s.addr, err)
}

// syncZoneText is the zone of the sync tests: _sip._tcp with three TCP targets, _xmpp-client._tcp with an
// XMPP server that answers and one that refuses the domain, and what sync must never touch: an SRV RRset
// of a service it does not know, a TXT record, the addresses.
func syncZoneText(a, b, c, x1, x2 string) string {
	return `$ORIGIN example.com.
$TTL 300
@        IN SOA ns.example.com. hostmaster.example.com. 1 7200 3600 1209600 300
@        IN NS  ns.example.com.
ns       IN A   127.0.0.1
a        IN A   127.0.0.1
b        IN A   127.0.0.1
c        IN A   127.0.0.1
x1       IN A   127.0.0.1
x2       IN A   127.0.0.1
_sip._tcp          IN SRV 10 60 ` + a + ` a.example.com.
_sip._tcp          IN SRV 10 40 ` + b + ` b.example.com.
_sip._tcp          IN SRV 20 0 ` + c + ` c.example.com.
_xmpp-client._tcp  IN SRV 5 50 ` + x1 + ` x1.example.com.
_xmpp-client._tcp  IN SRV 5 50 ` + x2 + ` x2.example.com.
_ldap._tcp         IN SRV 0 0 389 ldap.example.com.
www      IN TXT "not srvhealth's"
`
}

// syncProc is a running srvhealth sync.
type syncProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
}

func (p *syncProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

// Log returns what it logged so far.
func (p *syncProc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Count returns how many lines of the log contain sub.
func (p *syncProc) Count(sub string) int { return strings.Count(p.Log(), sub) }

// Stop sends SIGTERM to the process (by its pid) and waits for it; it fails the test if it does not
// exit cleanly within 5 s.
func (p *syncProc) Stop(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("srvhealth sync did not stop within 5 s of SIGTERM")
	}
	if c := p.cmd.ProcessState.ExitCode(); c != 0 {
		t.Errorf("srvhealth sync exited %d, want 0; log:\n%s", c, p.Log())
	}
}

// buildSrvhealth builds the command once per test.
func buildSrvhealth(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "srvhealth")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/srvhealth/srvhealth/cmd/srvhealth").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/srvhealth: %v\n%s", err, out)
	}
	return bin
}

// startSync runs bin sync with args until the test ends.
func startSync(t testing.TB, bin string, env []string, args ...string) *syncProc {
	t.Helper()
	p := &syncProc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"sync"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("srvhealth sync log:\n%s", p.Log())
		}
	})
	return p
}

// srvAt asks addr over TCP for name's SRV RRset and returns its records as "PRIO WEIGHT PORT TARGET",
// sorted, and its TTL.
func srvAt(t testing.TB, addr, name string) ([]string, uint32) {
	t.Helper()
	m := ExchangeMsg(t, "tcp", addr, func() *dns.Msg { m := new(dns.Msg); m.SetQuestion(name, dns.TypeSRV); return m }())
	var out []string
	var ttl uint32
	for _, rr := range m.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, strconv.Itoa(int(s.Priority))+" "+strconv.Itoa(int(s.Weight))+" "+strconv.Itoa(int(s.Port))+" "+s.Target)
			ttl = s.Hdr.Ttl
		}
	}
	slices.Sort(out)
	return out, ttl
}

// serial returns the zone's SOA serial at addr.
func serial(t testing.TB, addr, zone string) uint32 {
	t.Helper()
	m := Exchange(t, "tcp", addr, zone, dns.TypeSOA)
	for _, rr := range m.Answer {
		if s, ok := rr.(*dns.SOA); ok {
			return s.Serial
		}
	}
	t.Fatalf("no SOA for %s at %s", zone, addr)
	return 0
}

// axfr returns every record of zone at addr but the SOA and the SRV RRsets of managed, as sorted lines.
func axfr(t testing.TB, addr, zone string, managed ...string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetAxfr(zone)
	env, err := (&dns.Transfer{}).In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for e := range env {
		if e.Error != nil {
			t.Fatalf("AXFR %s from %s: %v", zone, addr, e.Error)
		}
		for _, rr := range e.RR {
			if rr.Header().Rrtype == dns.TypeSOA || rr.Header().Rrtype == dns.TypeSRV && slices.Contains(managed, rr.Header().Name) {
				continue
			}
			out = append(out, rr.String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// waitSRV polls addr until name's SRV records are want and returns how long that took; it fails the test
// after within.
func waitSRV(t testing.TB, what, addr, name string, want []string, within time.Duration) time.Duration {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	start := time.Now()
	var got []string
	if !Eventually(within, func() bool { got, _ = srvAt(t, addr, name); return slices.Equal(got, want) }) {
		t.Fatalf("%s: %s SRV is %v after %v, want %v", what, name, got, within, want)
	}
	return time.Since(start)
}

// signedUpdate sends m signed with the primary's key and returns the reply's rcode.
func signedUpdate(t testing.TB, p *testpeer.PrimaryPeer, m *dns.Msg) int {
	t.Helper()
	m.SetTsig(p.KeyName, p.Alg, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second, TsigSecret: map[string]string{p.KeyName: p.Secret}}
	r, _, err := c.Exchange(m, p.Addr.String())
	if err != nil {
		t.Fatalf("manual update: %v", err)
	}
	return r.Rcode
}

func TestSyncBIND(t *testing.T) { testSyncPrimary(t, testpeer.Bind) }

func TestSyncKnot(t *testing.T) { testSyncPrimary(t, testpeer.Knot) }

// testSyncPrimary drives srvhealth sync against a real primary through a target's death and return, all
// targets down, a manual change made behind its back, and long stable stretches, and checks that it
// touched nothing else in the zone.
func testSyncPrimary(t *testing.T, start func(testing.TB, testpeer.PrimaryConfig) *testpeer.PrimaryPeer) {
	live := func(c net.Conn) {} // accept, then close: enough for the tcp probe
	a, b, c := newSyncTarget(t, live), newSyncTarget(t, live), newSyncTarget(t, live)
	x1 := newSyncTarget(t, fakepeer.XMPP(fakepeer.Features))
	x2 := newSyncTarget(t, fakepeer.XMPP(fakepeer.StreamError("host-unknown"))) // an XMPP server that does not host the domain
	zoneText := syncZoneText(a.port(), b.port(), c.port(), x1.port(), x2.port())
	primary := start(t, testpeer.PrimaryConfig{Zone: "example.com.", ZoneText: zoneText})
	srv := primary.Addr.String()
	const sip, xmpp = "_sip._tcp.example.com.", "_xmpp-client._tcp.example.com."
	before := axfr(t, srv, "example.com.", sip, xmpp)

	bin := buildSrvhealth(t)
	desired := WriteFile(t, "db.example.com", zoneText)
	metricsPort := FreePort(t)
	p := startSync(t, bin, nil, "--zone", desired, "--update", srv, "--tsig", primary.KeyFile, "--resolver", srv,
		"--probe", "_sip._tcp=tcp", "--interval", syncInterval.String(), "--timeout", syncTimeout.String(),
		"--fails", strconv.Itoa(syncFails), "--rises", strconv.Itoa(syncRises), "--max-ttl", "60s",
		"--metrics", "127.0.0.1:"+metricsPort)

	rec := func(prio, weight int, port, target string) string {
		return strconv.Itoa(prio) + " " + strconv.Itoa(weight) + " " + port + " " + target + ".example.com."
	}
	sipAll := []string{rec(10, 60, a.port(), "a"), rec(10, 40, b.port(), "b"), rec(20, 0, c.port(), "c")}
	// The first write lowers the TTL to --max-ttl and takes out x2, whose XMPP server refuses the domain.
	waitSRV(t, "first write", srv, xmpp, []string{rec(5, 50, x1.port(), "x1")}, 10*time.Second)
	if !Eventually(5*time.Second, func() bool { _, ttl := srvAt(t, srv, sip); return ttl == 60 }) {
		t.Fatalf("_sip._tcp TTL not lowered to --max-ttl 60")
	}
	waitSRV(t, "first write", srv, sip, sipAll, time.Second)

	// Stable: no UPDATE, the serial stays, over several intervals.
	s0 := serial(t, srv, "example.com.")
	time.Sleep(6 * syncInterval)
	if s1 := serial(t, srv, "example.com."); s1 != s0 {
		t.Errorf("serial went from %d to %d while every target was stable: sync wrote without a change", s0, s1)
	}

	// A dead target leaves the answer within interval x fails + timeout, plus one update.
	bound := syncInterval*syncFails + syncTimeout + syncInterval + time.Second // + one update and our polling
	b.stop()
	took := waitSRV(t, "b dead", srv, sip, []string{sipAll[0], sipAll[2]}, 10*time.Second)
	t.Logf("dead target out of the primary's answer after %v (interval %v x fails %d + timeout %v = %v)", took.Round(time.Millisecond),
		syncInterval, syncFails, syncTimeout, syncInterval*syncFails+syncTimeout)
	if took > bound {
		t.Errorf("dead target left the answer after %v, want within %v", took, bound)
	}
	if !strings.Contains(p.Log(), "changed _sip._tcp.example.com. SRV [") {
		t.Errorf("no log line with the records before and after the change")
	}

	// It comes back.
	b.start()
	took = waitSRV(t, "b back", srv, sip, sipAll, 10*time.Second)
	t.Logf("target back in the primary's answer after %v", took.Round(time.Millisecond))

	// All down: the whole RRset is served (serve_all), never an empty one.
	a.stop()
	b.stop()
	c.stop()
	sipTargets := func(state string) bool { // the three _sip._tcp targets' target_up are all state
		_, body := HTTPGet(t, "http://127.0.0.1:"+metricsPort+"/metrics")
		lines := LinesWith(body, `coredns_srvhealth_target_up{domain="",port="`)
		return strings.Count(lines, "\n")+1 == 3 && strings.Count(lines, "} "+state) == 3
	}
	if !Eventually(10*time.Second, func() bool { return sipTargets("0") }) {
		t.Fatalf("the three _sip._tcp targets are not all down in the metrics")
	}
	waitSRV(t, "all down", srv, sip, sipAll, 3*time.Second)
	a.start()
	b.start()
	c.start()
	// The all-down answer is the whole RRset too: wait for the three to be up again, and for their write.
	if !Eventually(10*time.Second, func() bool { return sipTargets("1") }) {
		t.Fatalf("the three _sip._tcp targets are not all up again in the metrics")
	}
	waitSRV(t, "all back", srv, sip, sipAll, 3*time.Second)
	time.Sleep(2 * syncInterval)

	// A manual change behind sync's back is noticed at its next write (the prerequisite fails), logged,
	// and the zone file wins.
	m := new(dns.Msg)
	m.SetUpdate("example.com.")
	rogue, _ := dns.NewRR(sip + " 60 IN SRV 30 0 9 rogue.example.com.")
	m.Insert([]dns.RR{rogue})
	if rc := signedUpdate(t, primary, m); rc != dns.RcodeSuccess {
		t.Fatalf("manual update: %s", dns.RcodeToString[rc])
	}
	var withRogue []string
	if !Eventually(5*time.Second, func() bool {
		withRogue, _ = srvAt(t, srv, sip)
		return slices.Contains(withRogue, "30 0 9 rogue.example.com.")
	}) {
		t.Fatalf("the manual change is not in the primary's answer: %v", withRogue)
	}
	t.Logf("after the manual change: %v", withRogue)
	b.stop()
	waitSRV(t, "after a manual change", srv, sip, []string{sipAll[0], sipAll[2]}, 10*time.Second)
	if !strings.Contains(p.Log(), "changed by someone else") {
		t.Errorf("the manual change was not logged")
	}
	t.Logf("manual change noticed:\n%s", LinesWith(p.Log(), "someone else"))
	if v, _ := MetricFromText(HTTPGetBody(t, "http://127.0.0.1:"+metricsPort+"/metrics"),
		`coredns_srvhealth_sync_updates_total{provider="rfc2136",result="conflict"}`); v < 1 {
		t.Errorf("sync_updates_total{result=conflict} = %v, want at least 1", v)
	}

	// Nothing else in the zone changed.
	if after := axfr(t, srv, "example.com.", sip, xmpp); !slices.Equal(before, after) {
		t.Errorf("records sync does not manage changed:\nbefore %q\nafter  %q", before, after)
	}
	p.Stop(t)
}

// TestSyncWrongKey: a key the primary does not accept is reported with the server's rcode and TSIG error,
// and retried with a growing back-off; the process keeps running, and the zone is not changed.
func TestSyncWrongKey(t *testing.T) {
	t.Run("BIND", func(t *testing.T) { testSyncWrongKey(t, testpeer.Bind) })
	t.Run("Knot", func(t *testing.T) { testSyncWrongKey(t, testpeer.Knot) })
}

func testSyncWrongKey(t *testing.T, start func(testing.TB, testpeer.PrimaryConfig) *testpeer.PrimaryPeer) {
	dead := ClosedPort(t)
	up := newSyncTarget(t, func(net.Conn) {})
	zoneText := syncZoneText(up.port(), dead, up.port(), up.port(), up.port())
	primary := start(t, testpeer.PrimaryConfig{Zone: "example.com.", ZoneText: zoneText})
	srv := primary.Addr.String()
	wrong := WriteFile(t, "wrong.key", "key \"sync-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\";\n};\n")
	bin := buildSrvhealth(t)
	s0 := serial(t, srv, "example.com.")
	p := startSync(t, bin, nil, "--zone", WriteFile(t, "db", zoneText), "--update", srv, "--tsig", wrong, "--resolver", srv,
		"--probe", "_sip._tcp=tcp", "--probe", "_xmpp-client._tcp=tcp", "--interval", "100ms", "--timeout", "200ms", "--fails", "1")
	if !Eventually(10*time.Second, func() bool { return p.Count("update refused: NOTAUTH") >= 1 }) {
		t.Fatalf("no refused update logged")
	}
	first := time.Now()
	time.Sleep(2 * time.Second)
	n := p.Count("update refused: NOTAUTH")
	t.Logf("%d refused updates in the first %v (interval 100ms): %s", n, time.Since(first).Round(time.Millisecond), LinesWith(p.Log(), "retrying in"))
	if n < 2 || n > 6 {
		t.Errorf("%d attempts in 2 s; want a few, retried with a back-off that doubles from the interval", n)
	}
	if !strings.Contains(p.Log(), "TSIG error BADSIG") {
		t.Errorf("the TSIG error is not reported")
	}
	select {
	case <-p.done:
		t.Fatalf("srvhealth sync exited on a refused update")
	default:
	}
	if s := serial(t, srv, "example.com."); s != s0 {
		t.Errorf("serial %d -> %d: the zone changed under a wrong key", s0, s)
	}
	p.Stop(t)
}

// HTTPGetBody returns the body of url, or fails the test.
func HTTPGetBody(t testing.TB, url string) string {
	t.Helper()
	code, body := HTTPGet(t, url)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	return body
}

// MetricFromText returns the value of the series written exactly as series in a Prometheus text scrape.
func MetricFromText(scrape, series string) (float64, bool) {
	for l := range strings.Lines(scrape) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// TestSyncDryRun: --dry-run prints the changes and makes none.
func TestSyncDryRun(t *testing.T) {
	up := newSyncTarget(t, func(net.Conn) {})
	dead := ClosedPort(t)
	zoneText := syncZoneText(up.port(), dead, up.port(), up.port(), up.port())
	primary := testpeer.Bind(t, testpeer.PrimaryConfig{Zone: "example.com.", ZoneText: zoneText})
	srv := primary.Addr.String()
	s0 := serial(t, srv, "example.com.")
	p := startSync(t, buildSrvhealth(t), nil, "--dry-run", "--zone", WriteFile(t, "db", zoneText), "--update", srv, "--tsig", primary.KeyFile,
		"--resolver", srv, "--probe", "_sip._tcp=tcp", "--probe", "_xmpp-client._tcp=tcp", "--interval", "100ms", "--timeout", "200ms", "--fails", "1")
	want := "would change _sip._tcp.example.com. SRV [10 40 " + dead + " b.example.com., 10 60 " + up.port() + " a.example.com., 20 0 " +
		up.port() + " c.example.com.] ttl 300 -> [10 60 " + up.port() + " a.example.com., 20 0 " + up.port() + " c.example.com.] ttl 300"
	if !Eventually(5*time.Second, func() bool { return strings.Contains(p.Log(), want) }) {
		t.Fatalf("no %q printed", want)
	}
	time.Sleep(500 * time.Millisecond)
	if n := p.Count("would change "); n != 1 {
		t.Errorf("%d changes printed, want the one, once", n)
	}
	if s := serial(t, srv, "example.com."); s != s0 {
		t.Errorf("serial %d -> %d under --dry-run", s0, s)
	}
	p.Stop(t)
}

// loopbackResolver answers every A question with 127.0.0.1 (and every AAAA with no address): the
// resolver of the targets when the zone itself lives behind an API.
func loopbackResolver(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if q := r.Question[0]; q.Qtype == dns.TypeA {
			a, _ := dns.NewRR(q.Name + " 60 IN A 127.0.0.1")
			m.Answer = append(m.Answer, a)
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestSyncRoute53Fake runs the command against the fake Route 53 API (internal/dnsapi), found through the
// SDK's standard AWS_ENDPOINT_URL_ROUTE_53 and credentials from the environment: a dead target leaves the
// RRset with one UPSERT waited for until INSYNC, and the other record sets stay. Not the real Route 53.
func TestSyncRoute53Fake(t *testing.T) {
	a, b := newSyncTarget(t, func(net.Conn) {}), newSyncTarget(t, func(net.Conn) {})
	const sip = "_sip._tcp.example.com."
	values := []string{"10 60 " + a.port() + " a.example.com.", "10 40 " + b.port() + " b.example.com."}
	f := dnsapi.NewRoute53("Z0FAKE",
		dnsapi.R53Set{Name: sip, Type: "SRV", TTL: 60, Values: values},
		dnsapi.R53Set{Name: "_ldap._tcp.example.com.", Type: "SRV", TTL: 300, Values: []string{"0 0 389 ldap.example.com."}})
	f.PendingPolls = 1
	t.Cleanup(f.Close)
	zone := "$ORIGIN example.com.\n$TTL 60\n_sip._tcp IN SRV " + values[0] + "\n_sip._tcp IN SRV " + values[1] + "\n"
	env := []string{"AWS_ENDPOINT_URL_ROUTE_53=" + f.URL(), "AWS_ACCESS_KEY_ID=AKIDFAKE", "AWS_SECRET_ACCESS_KEY=fake",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true"}
	p := startSync(t, buildSrvhealth(t), env, "--zone", WriteFile(t, "db", zone), "--route53", "Z0FAKE", "--resolver", loopbackResolver(t),
		"--probe", "_sip._tcp=tcp", "--interval", syncInterval.String(), "--timeout", syncTimeout.String(), "--fails", strconv.Itoa(syncFails))
	time.Sleep(syncInterval * (syncFails + 2))
	if len(f.Batches) != 0 {
		t.Fatalf("wrote %+v while the zone already held what is desired", f.Batches)
	}
	b.stop()
	if !Eventually(10*time.Second, func() bool { s, _ := f.Get(sip, "SRV"); return slices.Equal(s.Values, values[:1]) }) {
		s, _ := f.Get(sip, "SRV")
		t.Fatalf("Route 53 holds %v, want %v", s.Values, values[:1])
	}
	if !Eventually(5*time.Second, func() bool { return strings.Contains(p.Log(), "route53: changed "+sip) }) {
		t.Errorf("no change logged once INSYNC")
	}
	if s, _ := f.Get("_ldap._tcp.example.com.", "SRV"); s.Values[0] != "0 0 389 ldap.example.com." {
		t.Errorf("_ldap._tcp changed: %v", s)
	}
	p.Stop(t)
}

// TestSyncCloudflareFake runs the command against the fake Cloudflare API (internal/dnsapi), found
// through the library's CLOUDFLARE_BASE_URL, with the token from CLOUDFLARE_API_TOKEN. Not the real
// Cloudflare.
func TestSyncCloudflareFake(t *testing.T) {
	a, b := newSyncTarget(t, func(net.Conn) {}), newSyncTarget(t, func(net.Conn) {})
	pa, _ := strconv.Atoi(a.port())
	pb, _ := strconv.Atoi(b.port())
	f := dnsapi.NewCloudflare("zone123", "tok",
		dnsapi.CFRecord{Name: "_sip._tcp.example.com", Type: "SRV", TTL: 60, Data: &dnsapi.CFData{Priority: 10, Weight: 60, Port: pa, Target: "a.example.com"}},
		dnsapi.CFRecord{Name: "_sip._tcp.example.com", Type: "SRV", TTL: 60, Data: &dnsapi.CFData{Priority: 10, Weight: 40, Port: pb, Target: "b.example.com"}},
		dnsapi.CFRecord{Name: "example.com", Type: "A", TTL: 300, Content: "192.0.2.1"})
	t.Cleanup(f.Close)
	zone := "$ORIGIN example.com.\n$TTL 60\n_sip._tcp IN SRV 10 60 " + a.port() + " a.example.com.\n_sip._tcp IN SRV 10 40 " + b.port() + " b.example.com.\n"
	p := startSync(t, buildSrvhealth(t), []string{"CLOUDFLARE_BASE_URL=" + f.URL(), "CLOUDFLARE_API_TOKEN=tok"},
		"--zone", WriteFile(t, "db", zone), "--cloudflare", "zone123", "--resolver", loopbackResolver(t),
		"--probe", "_sip._tcp=tcp", "--interval", syncInterval.String(), "--timeout", syncTimeout.String(), "--fails", strconv.Itoa(syncFails))
	time.Sleep(syncInterval * (syncFails + 2))
	b.stop()
	if !Eventually(10*time.Second, func() bool { return len(f.Records()) == 2 }) {
		t.Fatalf("Cloudflare holds %+v, want a's SRV record and the A record", f.Records())
	}
	for _, r := range f.Records() {
		if r.Type == "SRV" && r.Data.Target != "a.example.com" {
			t.Errorf("left %+v", r)
		}
	}
	if got := strings.Join(f.Methods, " "); got != "DELETE" {
		t.Errorf("writes %q, want the one DELETE", got)
	}
	p.Stop(t)
}

// TestSyncUnavailable: with --all-down unavailable, an RRset whose targets are all dead becomes the
// single RFC 2782 "." record at the primary, and the records come back with a target.
func TestSyncUnavailable(t *testing.T) {
	a := newSyncTarget(t, func(net.Conn) {})
	zoneText := syncZoneText(a.port(), a.port(), a.port(), a.port(), a.port())
	primary := testpeer.Bind(t, testpeer.PrimaryConfig{Zone: "example.com.", ZoneText: zoneText})
	srv := primary.Addr.String()
	const sip = "_sip._tcp.example.com."
	p := startSync(t, buildSrvhealth(t), nil, "--zone", WriteFile(t, "db", zoneText), "--update", srv, "--tsig", primary.KeyFile,
		"--resolver", srv, "--probe", "_sip._tcp=tcp", "--probe", "_xmpp-client._tcp=tcp", "--all-down", "unavailable",
		"--interval", syncInterval.String(), "--timeout", syncTimeout.String(), "--fails", strconv.Itoa(syncFails))
	all := []string{"10 60 " + a.port() + " a.example.com.", "10 40 " + a.port() + " b.example.com.", "20 0 " + a.port() + " c.example.com."}
	time.Sleep(syncInterval * (syncFails + 2))
	waitSRV(t, "all up", srv, sip, all, 5*time.Second)
	a.stop()
	waitSRV(t, "all down", srv, sip, []string{"0 0 0 ."}, 10*time.Second)
	waitSRV(t, "all down", srv, "_xmpp-client._tcp.example.com.", []string{"0 0 0 ."}, 5*time.Second)
	a.start()
	waitSRV(t, "back", srv, sip, all, 10*time.Second)
	p.Stop(t)
}
