package test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/internal/corednstest"
)

// The hostile-input suite (issue 20): a real CoreDNS with srvhealth in a root block behind forward, as the
// README recommends for a resolver, and a second CoreDNS serving an attacker's zone with file. Whoever owns
// a zone behind forward decides which names srvhealth sees; these tests hold the bounds on what that costs:
// queries to the upstream, probe connections to one server, and the real targets still filtered.
//
// Everything stays on loopback. The scope is 127.0.0.0/16; "out of scope" addresses are 127.1.x.y, outside
// that CIDR yet still loopback, so even a build that probed them would not leave the machine.

const (
	hostileInterval = 300 * time.Millisecond
	hostileScope    = "127.0.0.0/16"
	attacker        = "attacker."
)

// hostileUpstream starts the second CoreDNS: the attacker's zone attacker. from attackerZone, and, when
// realZone is not empty, the zone real.test. of a legitimate operator, both served by file on one
// loopback port (UDP and TCP). It returns the address forward should use and a function returning how
// many queries for names under attacker. the server has answered so far (its prometheus counters).
func hostileUpstream(t *testing.T, attackerZone, realZone string) (addr string, attackerQueries func() float64) {
	t.Helper()
	port := FreePort(t)
	metrics := "127.0.0.1:" + FreePort(t)
	corefile := attacker + `:` + port + ` {
		bind 127.0.0.1
		prometheus ` + metrics + `
		file ` + WriteFile(t, "db.attacker", attackerZone) + ` ` + attacker + `
	}
`
	if realZone != "" {
		corefile += `real.test.:` + port + ` {
		bind 127.0.0.1
		file ` + WriteFile(t, "db.real", realZone) + ` real.test.
	}
`
	}
	CoreDNS(t, corefile)
	labels := map[string]string{"server": "dns://127.0.0.1:" + port, "zone": attacker}
	return "127.0.0.1:" + port, func() float64 { return MetricSum(t, "coredns_dns_requests_total", labels) }
}

// hostileFront starts the server under attack: srvhealth in the root block, scope 127.0.0.0/16, short
// timers, and forward to upstream. extra holds further srvhealth properties, one per line.
func hostileFront(t *testing.T, upstream, extra string) *corednstest.Server {
	t.Helper()
	return CoreDNS(t, `.:0 {
		bind 127.0.0.1
		srvhealth {
			scope `+hostileScope+`
			probe _sip._tcp tcp
			interval `+hostileInterval.String()+`
			timeout 200ms
			fails 2
			`+extra+`
		}
		forward . `+upstream+`
	}`)
}

// attackerHead is the start of the attacker's zone file.
const attackerHead = `$ORIGIN attacker.
$TTL 300
@  IN SOA ns hostmaster 1 7200 3600 1209600 300
@  IN NS  ns
ns IN A   127.0.0.1
`

// outOfScopeTargets is the part of the attacker's zone behind _sip._tcp.oos.attacker.: an SRV set of
// outOfScope targets, oN.attacker., each with one A record (TTL 300) in 127.1.0.0/24, outside the scope.
const outOfScope = 60

func outOfScopeTargets() string {
	var b strings.Builder
	for i := range outOfScope {
		fmt.Fprintf(&b, "_sip._tcp.oos IN SRV 10 10 5060 o%d\no%d 300 IN A 127.1.0.%d\n", i, i, i+1)
	}
	return b.String()
}

// usersWildcard is the attacker's wildcard SRV: every _xmpp-client._tcp.NAME.users.attacker. is an XMPP
// service whose one target is xmpp.attacker. at 127.0.0.1:port. The xmpp probes key a target by the
// service domain too, so each NAME is a new target, all of them one server.
func usersWildcard(port string) string {
	return "*.users IN SRV 5 0 " + port + " xmpp\nxmpp IN A 127.0.0.1\n"
}

// TestHostileOutOfScopeNotReResolved: one query for an SRV set of 60 targets whose addresses all lie
// outside the scope must cost the upstream at most one resolution per target (A and AAAA) over the next
// ten intervals: such targets are never probed, and re-resolved no sooner than their records' TTL (300 s).
func TestHostileOutOfScopeNotReResolved(t *testing.T) {
	upstream, queries := hostileUpstream(t, attackerHead+outOfScopeTargets(), "")
	s := hostileFront(t, upstream, "")

	before := queries()
	// Sixty SRV records with their glue do not fit a UDP reply: ask over TCP, as the client would after TC.
	m := Exchange(t, "tcp", s.TCP, "_sip._tcp.oos."+attacker, dns.TypeSRV)
	if n := len(SRVTargets(m)); m.Rcode != dns.RcodeSuccess || n != outOfScope {
		t.Fatalf("rcode %s with %d targets, want all %d served unfiltered", dns.RcodeToString[m.Rcode], n, outOfScope)
	}
	// The SRV query itself, then A and AAAA once per target, and a little slack for a lookup retried.
	const bound = 1 + 2*outOfScope + 10
	window := 10 * hostileInterval
	time.Sleep(window)
	if n := queries() - before; n > bound {
		t.Errorf("the upstream received %v queries within %v of one query for %d out-of-scope targets, want at most %d (one resolution each)",
			n, window, outOfScope, bound)
	} else {
		t.Logf("the upstream received %v queries in %v", n, window)
	}
}

// TestHostileFloodDoesNotDisplaceRealTargets: with max_targets 50, a flood of names seen once (300 XMPP
// services from a wildcard, each a target of its own, and 60 out-of-scope targets) must not displace the
// targets clients keep asking for. A service asked steadily before and during the flood keeps its dead
// target out of every answer; a service first asked after the flood, and then asked steadily, gets its
// dead target out of the answers too, and keeps it out: the table admits what clients keep asking for.
func TestHostileFloodDoesNotDisplaceRealTargets(t *testing.T) {
	live, dead := TCPPeer(t, false), ClosedPort(t)
	realZone := `$ORIGIN real.test.
$TTL 300
@  IN SOA ns hostmaster 1 7200 3600 1209600 300
@  IN NS  ns
ns IN A   127.0.0.1
_sip._tcp.steady IN SRV 10 10 ` + live + ` live-steady
_sip._tcp.steady IN SRV 10 10 ` + dead + ` dead-steady
_sip._tcp.late   IN SRV 10 10 ` + live + ` live-late
_sip._tcp.late   IN SRV 10 10 ` + dead + ` dead-late
live-steady IN A 127.0.0.1
dead-steady IN A 127.0.0.1
live-late   IN A 127.0.0.1
dead-late   IN A 127.0.0.1
`
	upstream, _ := hostileUpstream(t, attackerHead+outOfScopeTargets()+usersWildcard(ClosedPort(t)), realZone)
	s := hostileFront(t, upstream, "max_targets 50")

	const steady, late = "_sip._tcp.steady.real.test.", "_sip._tcp.late.real.test."
	wantSteady, wantLate := []string{"live-steady.real.test."}, []string{"live-late.real.test."}
	WaitTargets(t, "steady service before the flood", s.UDP, steady, wantSteady, 5*time.Second)

	// The flood, with the steady service asked every 200 ms as its clients do: every answer for it, from
	// the first flood query on, must leave the dead target out.
	var steadyAsked, steadyBad int
	lastSteady := time.Now()
	askSteady := func(when string) {
		steadyAsked++
		if got := SRVTargets(Exchange(t, "udp", s.UDP, steady, dns.TypeSRV)); !slices.Equal(got, wantSteady) {
			steadyBad++
			t.Errorf("steady service %s: targets %v, want %v", when, got, wantSteady)
		}
		lastSteady = time.Now()
	}
	Exchange(t, "tcp", s.TCP, "_sip._tcp.oos."+attacker, dns.TypeSRV)
	const oneOff = 300
	for i := range oneOff {
		Exchange(t, "udp", s.UDP, fmt.Sprintf("_xmpp-client._tcp.f%d.users.%s", i, attacker), dns.TypeSRV)
		if time.Since(lastSteady) >= 200*time.Millisecond {
			askSteady("during the flood")
		}
	}
	for range 5 {
		askSteady("after the flood")
		time.Sleep(400 * time.Millisecond)
	}
	t.Logf("steady service: %d of %d answers during and after the flood kept the dead target", steadyBad, steadyAsked)

	// A service first asked after the flood, then asked every 200 ms: within 5 s (16 intervals, 25 asks)
	// its dead target is out, and it stays out.
	var m *dns.Msg
	asked := 0
	if !Eventually(5*time.Second, func() bool {
		asked++
		m = Exchange(t, "udp", s.UDP, late, dns.TypeSRV)
		if slices.Equal(SRVTargets(m), wantLate) {
			return true
		}
		time.Sleep(200 * time.Millisecond)
		return false
	}) {
		t.Fatalf("service first asked after the flood: targets %v after %d asks in 5 s, want %v (its dead target is never monitored)",
			SRVTargets(m), asked, wantLate)
	}
	for range 5 {
		time.Sleep(400 * time.Millisecond)
		if got := SRVTargets(Exchange(t, "udp", s.UDP, late, dns.TypeSRV)); !slices.Equal(got, wantLate) {
			t.Errorf("service first asked after the flood: targets %v once dropped, want %v", got, wantLate)
		}
	}
}

// TestHostileWildcardBoundedPerServer: a wildcard SRV makes 300 XMPP services out of 300 queries, each a
// target of its own (the XMPP probe's key holds the service domain), all of them one hung server. The
// probes that server receives must stay within max_per_server (4 here) per interval: the budget counts in
// windows of one interval that start at the server's first probe, so any sliding window of one interval
// straddles at most two of them (2 x 4, plus one of slack), and so must the connections it holds open at
// once. A name a client keeps asking for (r0) is the control: the server is still probed.
func TestHostileWildcardBoundedPerServer(t *testing.T) {
	const maxPerServer, slack = 4, 1
	port, tally := TallyPeer(t, true)
	upstream, _ := hostileUpstream(t, attackerHead+usersWildcard(port), "")
	s := hostileFront(t, upstream, "max_per_server "+strconv.Itoa(maxPerServer))

	name := func(i int) string { return fmt.Sprintf("_xmpp-client._tcp.r%d.users.%s", i, attacker) }
	lastControl := time.Time{}
	control := func() {
		if time.Since(lastControl) >= 200*time.Millisecond {
			Exchange(t, "udp", s.UDP, name(0), dns.TypeSRV)
			lastControl = time.Now()
		}
	}
	const names = 300
	for i := 1; i <= names; i++ {
		if n := len(SRVTargets(Exchange(t, "udp", s.UDP, name(i), dns.TypeSRV))); n != 1 {
			t.Fatalf("%s: %d targets, want the wildcard's one", name(i), n)
		}
		control()
	}
	// Ten intervals after the last query, the control still asked every 200 ms.
	for end := time.Now().Add(10 * hostileInterval); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		control()
	}
	window, open := tally.MaxWithin(hostileInterval), tally.MaxOpen()
	t.Logf("%d connections in all; at most %d within one interval (%v), at most %d open at once", tally.Count(), window, hostileInterval, open)
	if window > 2*maxPerServer+slack {
		t.Errorf("%d probe connections to one server within one interval (%v), want at most 2 x max_per_server %d + %d", window, hostileInterval, maxPerServer, slack)
	}
	if open > maxPerServer+slack {
		t.Errorf("%d probe connections open at once to one server, want at most max_per_server %d + %d", open, maxPerServer, slack)
	}
	if tally.Count() == 0 {
		t.Error("the server was never probed, though a client kept asking for r0")
	}
}

// TestHostileManyPortsOneHost: 100 SRV names, each asked once, each with one target: the same host at 100
// different ports (half accept and hang up, half hang). A name nobody asks for again backs off, its rounds
// doubling apart (at 0, 1, 3 and 7 intervals after the first): over ten intervals each port sees at most 4
// connections rather than 10, and the upstream at most one resolution (A and AAAA) per name besides the
// SRV query. The control, a 101st port behind a name a client keeps asking for, is probed.
func TestHostileManyPortsOneHost(t *testing.T) {
	const ports = 100
	var z strings.Builder
	z.WriteString(attackerHead + "host IN A 127.0.0.1\n")
	tallies := make([]*ConnTally, ports+1)
	for i := range ports + 1 {
		var port string
		port, tallies[i] = TallyPeer(t, i%2 == 1)
		fmt.Fprintf(&z, "_sip._tcp.p%d.ports IN SRV 0 0 %s host\n", i, port)
	}
	upstream, queries := hostileUpstream(t, z.String(), "")
	s := hostileFront(t, upstream, "")
	name := func(i int) string { return fmt.Sprintf("_sip._tcp.p%d.ports.%s", i, attacker) }

	before := queries()
	lastControl, controlAsks := time.Time{}, 0
	control := func() {
		if time.Since(lastControl) >= 200*time.Millisecond {
			Exchange(t, "udp", s.UDP, name(ports), dns.TypeSRV)
			lastControl = time.Now()
			controlAsks++
		}
	}
	for i := range ports {
		if n := len(SRVTargets(Exchange(t, "udp", s.UDP, name(i), dns.TypeSRV))); n != 1 {
			t.Fatalf("%s: %d targets, want 1", name(i), n)
		}
		control()
	}
	for end := time.Now().Add(10 * hostileInterval); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		control()
	}

	total, most, busiest := 0, 0, 0
	for i, tl := range tallies[:ports] {
		n := tl.Count()
		total += n
		if n > most {
			most, busiest = n, i
		}
	}
	// The SRV query of each name and one resolution each; the control's SRV queries, and a resolution of
	// its target every interval at most; a little slack for a lookup retried.
	bound := float64(ports + 2*ports + controlAsks + 2*10 + 10)
	n := queries() - before
	t.Logf("%d probe connections to %d ports (at most %d to one, p%d); the upstream received %v queries (bound %v)", total, ports, most, busiest, n, bound)
	if most > 4 {
		t.Errorf("p%d's port received %d probe connections over ten intervals, its name asked once; want at most 4 per port, the back-off's rounds (%d in all to %d ports)",
			busiest, most, total, ports)
	}
	if n > bound {
		t.Errorf("the upstream received %v queries for %d names each asked once, want at most %v (one resolution each)", n, ports, bound)
	}
	if tallies[ports].Count() == 0 {
		t.Error("the port behind the name a client kept asking for was never probed")
	}
}
