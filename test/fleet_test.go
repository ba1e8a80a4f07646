package test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/fleet"
	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

// The fleet tests run real CoreDNS processes built from cmd/coredns, gossiping on loopback, with real TCP
// probe targets: what an operator runs, replicas of cluster DNS or servers at two sites.

// fleetInterval and the settings below make a target's state flip within interval x fails + timeout =
// 2.5 s, so the tests take seconds, not minutes.
const (
	fleetInterval = time.Second
	fleetFails    = 2
	fleetTimeout  = 500 * time.Millisecond
)

// replica is one CoreDNS process of a fleet test and its addresses.
type replica struct {
	*Process
	dns, ready, metrics, gossip string
	name                        string // its member name: host@gossip
}

// fleetOpts says how the replicas of a test are set up.
type fleetOpts struct {
	n       int
	fleet   bool   // false: each replica probes on its own, as before the fleet
	probers int    // fleet_probers; 0: the default
	key     string // the fleet_key file; every replica's unless keys says otherwise
}

// fleetKey writes a random fleet key file and returns its path.
func fleetKey(t *testing.T, seed byte) string {
	k := make([]byte, 32)
	for i := range k {
		k[i] = seed + byte(i)*7
	}
	return WriteFile(t, fmt.Sprintf("fleet-%d.key", seed), base64.StdEncoding.EncodeToString(k)+"\n")
}

// replicaCorefile is the Corefile of one replica serving zone, gossiping on gossip with peers.
func replicaCorefile(r *replica, zone string, o fleetOpts, key string, peers []string) string {
	fleet := ""
	if o.fleet {
		fleet = "fleet " + r.gossip + " " + strings.Join(peers, " ") + "\n\t\t\tfleet_key " + key
		if o.probers > 0 {
			fleet += fmt.Sprintf("\n\t\t\tfleet_probers %d", o.probers)
		}
	}
	return fmt.Sprintf(`example.com:%s {
		bind 127.0.0.1
		ready %s
		prometheus %s
		srvhealth {
			interval %s
			timeout %s
			fails %d
			rises 1
			probe _sip._tcp tcp
			status
			%s
		}
		file %s
	}`, strings.TrimPrefix(r.dns, "127.0.0.1:"), r.ready, r.metrics, fleetInterval, fleetTimeout, fleetFails, fleet, zone)
}

// newReplica picks the addresses of one replica.
func newReplica(t *testing.T) *replica {
	host, _ := os.Hostname()
	r := &replica{dns: "127.0.0.1:" + FreePort(t), ready: "127.0.0.1:" + FreePort(t), metrics: "127.0.0.1:" + FreePort(t),
		gossip: "127.0.0.1:" + FreePort(t)}
	r.name = host + "@" + r.gossip
	return r
}

// startFleet starts o.n replicas serving zone, each naming every other as a peer, and waits until each is
// ready and answers.
func startFleet(t *testing.T, zone string, o fleetOpts) []*replica {
	t.Helper()
	key := o.key
	if key == "" {
		key = fleetKey(t, 1)
	}
	rs := make([]*replica, o.n)
	for i := range rs {
		rs[i] = newReplica(t)
	}
	for i, r := range rs {
		var peers []string
		for j, p := range rs {
			if j != i {
				peers = append(peers, p.gossip)
			}
		}
		r.Process = StartProcess(t, replicaCorefile(r, zone, o, key, peers))
	}
	for _, r := range rs {
		r.WaitReady(r.ready, 30*time.Second)
	}
	return rs
}

// asker keeps asking every replica for name, as clients do, until stopped: the target is then one every
// replica keeps.
func asker(t *testing.T, rs []*replica, name string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
		for ctx.Err() == nil {
			for _, r := range rs {
				m := new(dns.Msg)
				m.SetQuestion(name, dns.TypeSRV)
				_, _, _ = c.Exchange(m, r.dns) // a frozen replica does not answer
			}
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// members returns a replica's fleet_members gauge.
func (r *replica) members(t *testing.T) float64 {
	v, _ := ScrapeValue(t, r.metrics, "coredns_srvhealth_fleet_members")
	return v
}

// waitMembers waits until every replica of rs sees n members alive.
func waitMembers(t *testing.T, rs []*replica, n int, within time.Duration) {
	t.Helper()
	for _, r := range rs {
		if !Eventually(within, func() bool { return r.members(t) == float64(n) }) {
			t.Fatalf("%s sees %v members, want %d:\n%s", r.name, r.members(t), n, r.Log())
		}
	}
}

// probesPerInterval measures the connections tally receives over rounds intervals, per interval.
func probesPerInterval(tally *ConnTally, rounds int) float64 {
	before := tally.Count()
	time.Sleep(time.Duration(rounds) * fleetInterval)
	return float64(tally.Count()-before) / float64(rounds)
}

// TestFleetSharesProbes: three and five replicas in a fleet probe a live target about fleet_probers times
// an interval between them, against three and five times without the fleet, and every replica leaves a
// dead target out.
func TestFleetSharesProbes(t *testing.T) {
	for _, n := range []int{3, 5} {
		t.Run(strconv.Itoa(n), func(t *testing.T) { testFleetSharesProbes(t, n) })
	}
}

func testFleetSharesProbes(t *testing.T, n int) {
	const rounds = 8
	var perInterval [2]float64
	for i, fleet := range []bool{false, true} {
		live, tally := TallyPeer(t, false)
		zone := WriteFile(t, "db", liveDeadZone("example.com", live, ClosedPort(t)))
		rs := startFleet(t, zone, fleetOpts{n: n, fleet: fleet})
		stop := asker(t, rs, "_sip._tcp.example.com.")
		if fleet {
			waitMembers(t, rs, n, 20*time.Second)
		}
		for _, r := range rs {
			WaitTargets(t, "replica "+r.dns, r.dns, "_sip._tcp.example.com.", []string{"live.example.com.", "live.example.com."}, 20*time.Second)
		}
		time.Sleep(3 * fleetInterval) // every replica's first rounds, and the fleet's owners settled
		gossip0 := 0.0
		for _, r := range rs {
			v, _ := ScrapeValue(t, r.metrics, "coredns_srvhealth_fleet_sent_bytes_total", `path="gossip"`)
			gossip0 += v
		}
		perInterval[i] = probesPerInterval(tally, rounds)
		stop()
		if fleet {
			// Each of the two targets (live and dead) has two owners, whatever member answers for it.
			owned, sent, fallbacks, gossip := 0.0, 0.0, 0.0, 0.0
			for _, r := range rs {
				v, _ := ScrapeValue(t, r.metrics, "coredns_srvhealth_fleet_sent_bytes_total", `path="gossip"`)
				gossip += v
				v, _ = ScrapeValue(t, r.metrics, "coredns_srvhealth_fleet_owned_targets")
				owned += v
				v, _ = ScrapeValue(t, r.metrics, "coredns_srvhealth_fleet_messages_sent_total", `type="state"`)
				sent += v
				v, _ = ScrapeValue(t, r.metrics, "coredns_srvhealth_fleet_fallback_rounds_total")
				fallbacks += v
			}
			t.Logf("fleet: %v owned targets summed over the replicas, %v state messages sent, %v fallback rounds; %.0f octets of gossip per member per second for 2 targets at interval %s",
				owned, sent, fallbacks, (gossip-gossip0)/float64(n)/(float64(rounds)*fleetInterval.Seconds()), fleetInterval)
			if owned != 4 {
				t.Errorf("the replicas own %v targets between them, want 2 targets x 2 probers", owned)
			}
			if sent == 0 {
				t.Error("no state message sent")
			}
			if perInterval[i] > 2+0.75 {
				// Members that suspect one another (a starved machine) each compute other owners: say so.
				for _, r := range rs {
					t.Logf("%s:\n%s", r.name, LinesWith(r.Log(), "fleet"))
				}
			}
		}
		for _, r := range rs {
			r.Kill()
		}
	}
	t.Logf("connections to a live target per %s interval, %d replicas: %.2f without fleet, %.2f with fleet (fleet_probers 2)", fleetInterval, n, perInterval[0], perInterval[1])
	if perInterval[0] < float64(n)-1 {
		t.Errorf("without fleet: %.2f connections per interval, want about %d: the measure is off", perInterval[0], n)
	}
	if perInterval[1] > 2+0.75 {
		t.Errorf("with fleet: %.2f connections per interval, want at most fleet_probers 2 (+ slack)", perInterval[1])
	}
}

// TestFleetRestartKnowsDeadTarget: a replica killed and restarted pulls the fleet's state before it
// reports ready, so its first answer after ready already leaves the dead target out.
func TestFleetRestartKnowsDeadTarget(t *testing.T) {
	live := TCPPeer(t, false)
	zone := WriteFile(t, "db", liveDeadZone("example.com", live, ClosedPort(t)))
	rs := startFleet(t, zone, fleetOpts{n: 3, fleet: true})
	stop := asker(t, rs, "_sip._tcp.example.com.")
	defer stop()
	waitMembers(t, rs, 3, 20*time.Second)
	want := []string{"live.example.com.", "live.example.com."}
	for _, r := range rs {
		WaitTargets(t, "replica "+r.dns, r.dns, "_sip._tcp.example.com.", want, 20*time.Second)
	}
	r := rs[2]
	r.Kill()
	start := time.Now()
	r.Restart()
	ready := r.WaitReady(r.ready, 20*time.Second)
	m := Exchange(t, "udp", r.dns, "_sip._tcp.example.com.", dns.TypeSRV)
	got := SRVTargets(m)
	t.Logf("restarted replica: ready %v after start (%v after exec), first answer %v", ready, time.Since(start), got)
	if !slices.Equal(got, want) {
		t.Fatalf("first answer after ready: %v, want %v (the dead target known from the fleet)\n%s", got, want, r.Log())
	}
}

// TestFleetWrongKey: a member with another key cannot join the fleet, nor write anyone's state.
func TestFleetWrongKey(t *testing.T) {
	live := TCPPeer(t, false)
	zone := WriteFile(t, "db", liveDeadZone("example.com", live, ClosedPort(t)))
	rs := startFleet(t, zone, fleetOpts{n: 3, fleet: true})
	waitMembers(t, rs, 3, 20*time.Second)

	bad := newReplica(t)
	var peers []string
	for _, r := range rs {
		peers = append(peers, r.gossip)
	}
	bad.Process = StartProcess(t, replicaCorefile(bad, zone, fleetOpts{fleet: true, probers: 3}, fleetKey(t, 99), peers))
	bad.WaitReady(bad.ready, 30*time.Second) // alone after a failed join: ready on its own
	stop := asker(t, append(slices.Clone(rs), bad), "_sip._tcp.example.com.")
	defer stop()
	time.Sleep(6 * fleetInterval)
	if v := bad.members(t); v != 1 {
		t.Errorf("the member with the wrong key sees %v members, want 1 (itself)", v)
	}
	for _, r := range rs {
		if v := r.members(t); v != 3 {
			t.Errorf("%s sees %v members, want 3", r.name, v)
		}
		st := fleetStatus(t, r)
		if strings.Contains(st, "prober="+bad.name) {
			t.Errorf("%s holds a state the member with the wrong key probed:\n%s", r.name, st)
		}
		if !strings.Contains(st, "prober=") {
			t.Errorf("%s: status names no prober:\n%s", r.name, st)
		}
	}
}

// killableTarget is a live TCP target on 127.0.0.1 (it accepts and closes each connection) that kill
// takes down mid-test; it is taken down when the test ends in any case. It returns its port.
func killableTarget(t *testing.T) (port string, kill func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	_, port, _ = net.SplitHostPort(l.Addr().String())
	return port, func() { l.Close() }
}

// liveOwners returns the n members of rs that own live.example.com.'s _sip._tcp key (tcp probe, port) by
// the fleet's own rendezvous hashing.
func liveOwners(t *testing.T, rs []*replica, port string, n int) []string {
	t.Helper()
	m, err := probe.ForService("_sip._tcp.", probe.KindTCP)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.name)
	}
	return fleet.Owners(names, health.NewKey("live.example.com.", uint16(mustAtoi(t, port)), m, "example.com"), n)
}

// TestFleetLastOneStanding: with every other member frozen (SIGSTOP), the last one still drops a target
// that dies, on its own.
func TestFleetLastOneStanding(t *testing.T) {
	port, kill := killableTarget(t)
	zone := WriteFile(t, "db", liveDeadZone("example.com", port, ClosedPort(t)))
	rs := startFleet(t, zone, fleetOpts{n: 3, fleet: true})
	stop := asker(t, rs, "_sip._tcp.example.com.")
	defer stop()
	waitMembers(t, rs, 3, 20*time.Second)
	for _, r := range rs {
		WaitTargets(t, "replica "+r.dns, r.dns, "_sip._tcp.example.com.", []string{"live.example.com.", "live.example.com."}, 20*time.Second)
	}
	// The last one standing is the member that does not own the target: it hears of the owners' rounds
	// until they freeze, and must then find out on its own.
	owners := liveOwners(t, rs, port, 2)
	var last *replica
	for _, r := range rs {
		if !slices.Contains(owners, r.name) {
			last = r
		}
	}
	// Its owners share their rounds once the target is one they keep (asked for in two windows of a
	// second); until then the last one probes on its own. So wait, before freezing them, until the state
	// it holds is theirs.
	var row string
	if !Eventually(20*time.Second, func() bool {
		row = statusRow(fleetStatus(t, last), "live.example.com.")
		return strings.Contains(row, "prober="+owners[0]) || strings.Contains(row, "prober="+owners[1])
	}) {
		t.Fatalf("the member that does not own the target holds a state its owners %v did not probe: %s", owners, row)
	}
	for _, r := range rs {
		if slices.Contains(owners, r.name) {
			r.Freeze()
			defer r.Thaw()
		}
	}
	kill() // the live target dies
	start := time.Now()
	// Everything is down: the all-down policy serves every target again (serve_all), so the answer to
	// wait for is the status saying down.
	if !Eventually(60*time.Second, func() bool {
		return strings.Contains(statusRow(fleetStatus(t, last), "live.example.com."), "state=down")
	}) {
		t.Fatalf("the last member still holds the dead target up after 60 s:\n%s\n%s", fleetStatus(t, last), last.Log())
	}
	t.Logf("last member standing dropped a target that died %v after it died (interval %s x fails %d + timeout %s, plus failure detection and StaleAfter)",
		time.Since(start).Round(100*time.Millisecond), fleetInterval, fleetFails, fleetTimeout)
}

// fleetStatus returns the CH TXT status of every target a replica monitors, a row a line.
func fleetStatus(t *testing.T, r *replica) string {
	m := new(dns.Msg)
	m.SetQuestion("srvhealth.example.com.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	resp, _, err := c.Exchange(m, r.dns)
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	for _, rr := range resp.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			b.WriteString(strings.Join(txt.Txt, " ") + "\n")
		}
	}
	return b.String()
}

// statusRow returns the row of target in a status.
func statusRow(status, target string) string {
	for l := range strings.Lines(status) {
		if strings.Contains(l, "target="+target+" ") {
			return l
		}
	}
	return ""
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFleetReloadAndLeave: a reload that keeps the fleet keeps the member (its peers see it neither leave
// nor join), a reload that changes the fleet leaves and rejoins, and a shutdown leaves gracefully: the
// peers count it out at once rather than after failure detection.
func TestFleetReloadAndLeave(t *testing.T) {
	live := TCPPeer(t, false)
	zone := WriteFile(t, "db", liveDeadZone("example.com", live, ClosedPort(t)))
	rs := startFleet(t, zone, fleetOpts{n: 2, fleet: true})
	a, b := rs[0], rs[1]
	waitMembers(t, rs, 2, 20*time.Second)
	leftLine := "member " + a.name + " left"
	key := strings.Fields(strings.SplitAfter(readFile(t, a.corefile), "fleet_key ")[1])[0]

	reload := func(corefile string) {
		t.Helper()
		if err := os.WriteFile(a.corefile, []byte(corefile), 0o644); err != nil {
			t.Fatal(err)
		}
		_ = a.cmd.Process.Signal(syscall.SIGUSR1)
	}
	// Same fleet, another interval: the member stays.
	reload(strings.Replace(replicaCorefile(a, zone, fleetOpts{fleet: true}, key, []string{b.gossip}), "interval 1s", "interval 2s", 1))
	if !Eventually(10*time.Second, func() bool { return strings.Contains(a.Log(), "SIGUSR1") }) {
		t.Fatal("no reload")
	}
	time.Sleep(3 * time.Second)
	if strings.Contains(b.Log(), leftLine) || strings.Contains(a.Log(), "leaving as") {
		t.Fatalf("a reload that kept the fleet left it:\n%s\n%s", LinesWith(a.Log(), "fleet"), LinesWith(b.Log(), "fleet"))
	}
	if v := b.members(t); v != 2 {
		t.Fatalf("peer sees %v members after a reload that kept the fleet, want 2", v)
	}

	// fleet_probers changes: the member leaves and joins again.
	reload(replicaCorefile(a, zone, fleetOpts{fleet: true, probers: 1}, key, []string{b.gossip}))
	if !Eventually(10*time.Second, func() bool { return strings.Contains(a.Log(), "leaving as") }) {
		t.Fatalf("a reload that changed the fleet did not leave it:\n%s", a.Log())
	}
	waitMembers(t, rs, 2, 20*time.Second)

	// Shutdown: a graceful leave, seen by the peer well before failure detection would tell (4 s here).
	a.Terminate()
	start := time.Now()
	if !Eventually(10*time.Second, func() bool { return b.members(t) == 1 }) {
		t.Fatalf("peer still counts a member that shut down")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("peer counted the member out %v after it shut down: not a graceful leave", d)
	}
	if !strings.Contains(b.Log(), leftLine) {
		t.Errorf("peer did not log the leave:\n%s", LinesWith(b.Log(), "fleet"))
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFleetThreeOfFiveKilled: with three of five replicas killed, the two left drop a target that dies next
// within interval x fails + timeout plus failure detection: the targets of the dead owners move to them.
func TestFleetThreeOfFiveKilled(t *testing.T) {
	port, kill := killableTarget(t)
	zone := WriteFile(t, "db", liveDeadZone("example.com", port, ClosedPort(t)))
	rs := startFleet(t, zone, fleetOpts{n: 5, fleet: true})
	waitMembers(t, rs, 5, 20*time.Second)
	stop := asker(t, rs, "_sip._tcp.example.com.")
	defer stop()
	for _, r := range rs {
		WaitTargets(t, "replica "+r.dns, r.dns, "_sip._tcp.example.com.", []string{"live.example.com.", "live.example.com."}, 20*time.Second)
	}
	// Kill the target's owners first, and one more: the two left own nothing of it until they notice.
	owners := liveOwners(t, rs, port, 3)
	var left []*replica
	for _, r := range rs {
		if slices.Contains(owners, r.name) {
			r.Kill()
		} else {
			left = append(left, r)
		}
	}
	kill() // the target dies just after
	start := time.Now()
	for _, r := range left {
		if !Eventually(60*time.Second, func() bool {
			return strings.Contains(statusRow(fleetStatus(t, r), "live.example.com."), "state=down")
		}) {
			t.Fatalf("%s still holds the dead target up after 60 s:\n%s", r.name, fleetStatus(t, r))
		}
	}
	took := time.Since(start)
	t.Logf("3 of 5 killed (the target's owners among them): the 2 left dropped a target that died %v after it died (interval %s x fails %d + timeout %s = 2.5 s, plus failure detection)",
		took.Round(100*time.Millisecond), fleetInterval, fleetFails, fleetTimeout)
	if limit := time.Duration(fleetFails)*fleetInterval + fleetTimeout + 10*time.Second; took > limit {
		t.Errorf("took %v, want within %v", took, limit)
	}
}

// TestFleetPeerByName: a peer named by a DNS name (as a Kubernetes headless Service names the pods) is
// resolved through the server's own zones, at start and again while the member is alone: a member started
// before its peer finds it once it comes up.
func TestFleetPeerByName(t *testing.T) {
	live := TCPPeer(t, false)
	zone := WriteFile(t, "db", liveDeadZone("example.com", live, ClosedPort(t))+"gossip   IN A   127.0.0.1\n")
	key := fleetKey(t, 1)
	a, b := newReplica(t), newReplica(t)
	_, aPort, _ := net.SplitHostPort(a.gossip)
	b.Process = StartProcess(t, replicaCorefile(b, zone, fleetOpts{fleet: true}, key, []string{"gossip.example.com:" + aPort}))
	b.WaitReady(b.ready, 30*time.Second) // alone: nobody answers at the name yet
	if v := b.members(t); v != 1 {
		t.Fatalf("%v members before the peer started, want 1", v)
	}
	a.Process = StartProcess(t, replicaCorefile(a, zone, fleetOpts{fleet: true}, key, nil))
	a.WaitReady(a.ready, 30*time.Second)
	start := time.Now()
	waitMembers(t, []*replica{a, b}, 2, 20*time.Second)
	t.Logf("the member alone found its peer by name %v after the peer was ready", time.Since(start).Round(100*time.Millisecond))
}

// TestFleetOnePerProcess: two server blocks of one CoreDNS naming two fleets refuse to start, with the
// Corefile's file and line: one process is one member.
func TestFleetOnePerProcess(t *testing.T) {
	zone := WriteFile(t, "db", liveDeadZone("example.com", TCPPeer(t, false), ClosedPort(t)))
	g1, g2 := "127.0.0.1:"+FreePort(t), "127.0.0.1:"+FreePort(t)
	p := StartProcess(t, `example.com:`+FreePort(t)+` {
		bind 127.0.0.1
		srvhealth {
			fleet `+g1+`
		}
		file `+zone+`
	}
	example.net:`+FreePort(t)+` {
		bind 127.0.0.1
		srvhealth {
			fleet `+g2+`
		}
		file `+zone+` example.net
	}`)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("CoreDNS started with two fleets")
	}
	if log := p.Log(); !strings.Contains(log, "another server block names another fleet") || !strings.Contains(log, "Corefile:") {
		t.Errorf("no error naming the Corefile line:\n%s", log)
	}
}
