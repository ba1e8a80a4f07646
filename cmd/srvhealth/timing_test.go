package main

import (
	"strconv"
	"testing"
	"time"
)

// hung publishes the eight services with n targets each, every one of them a server that accepts (or
// reads) and never answers: the worst target, the one that costs a client its whole timeout.
func (e *env) hung(n int) {
	var targets []string
	for i := 1; i <= n; i++ {
		targets = append(targets, "h"+strconv.Itoa(i))
	}
	for _, label := range []string{"_sip._tcp", "_sip._tls", "_sips._tcp", "_xmpp-client._tcp", "_xmpp-server._tcp", "_xmpps-client._tcp", "_xmpps-server._tcp"} {
		e.service(label, targets, silent)
	}
	e.service("_sip._udp", targets, sipUDP(""))
}

// With every target of 8 services x 3 hung, the probes run in parallel and the check ends within
// --timeout plus a second.
func TestCheckBlackholed(t *testing.T) {
	e := newEnv(t)
	e.hung(3)
	port := e.serve()
	const timeout = time.Second
	start := time.Now()
	code, r := e.report(port, "voip.test", "--timeout", timeout.String())
	took := time.Since(start)
	c := r.Checks[0]
	if len(c.Probes) != 24 {
		t.Fatalf("%d probes, want 24", len(c.Probes))
	}
	down := 0
	for _, f := range c.Findings {
		if f.Code == "service-down" {
			down++
		}
	}
	if code != exitCritical || down != 8 {
		t.Errorf("exit %d, %d services down; findings:\n%s", code, down, findingsText(c.Findings))
	}
	if took > timeout+time.Second {
		t.Errorf("took %v, want at most --timeout %v plus 1 s", took, timeout)
	}
	t.Logf("8 services x 3 hung targets, --timeout %v: %v", timeout, took)
}

// --parallel bounds the probes in flight: with one at a time, four hung targets take four timeouts.
func TestCheckParallelBound(t *testing.T) {
	e := newEnv(t)
	e.service("_sip._tcp", []string{"h1", "h2", "h3", "h4"}, silent)
	port := e.serve()
	start := time.Now()
	_, r := e.report(port, "voip.test", "--timeout", "200ms", "--parallel", "1")
	took := time.Since(start)
	if len(r.Checks[0].Probes) != 4 || took < 800*time.Millisecond {
		t.Errorf("%d probes in %v with --parallel 1, want 4 in at least 4 x 200 ms", len(r.Checks[0].Probes), took)
	}
}

// BenchmarkCheckHealthy checks a domain with the eight services and three answering targets each (24
// probes, three authoritative servers), as one run of the command.
func BenchmarkCheckHealthy(b *testing.B) {
	e := newEnv(b)
	e.healthy(3)
	z := e.zone(1, 3)
	port := startNS(b, nil, z, z, z)
	var probes int
	for b.Loop() {
		code, r := e.report(port, "voip.test")
		if code != exitOK {
			b.Fatalf("exit %d: %v", code, codes(r.Checks[0].Findings))
		}
		probes = len(r.Checks[0].Probes)
	}
	if probes != 24 {
		b.Fatalf("%d probes", probes)
	}
}
