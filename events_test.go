package srvhealth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	golog "log"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

// captureLog returns the CoreDNS log output written while f runs.
func captureLog(f func()) string {
	var buf bytes.Buffer
	golog.SetOutput(&buf)
	defer golog.SetOutput(io.Discard)
	f()
	return buf.String()
}

func TestEventsWarnOncePerTarget(t *testing.T) {
	ev := &events{zones: []string{"example.com."}}
	k := health.Key{Target: "sip1.example.com.example.com.", Port: 5060, Method: probe.Method{Kind: probe.KindSIP, Transport: probe.UDP}}
	out := captureLog(func() {
		ev.Resolved(k, health.Resolution{})
		ev.Resolved(k, health.Resolution{})
		ev.Resolved(health.Key{Target: "alias.example.com.", Port: 5060}, health.Resolution{CNAME: true, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}})
		ev.Resolved(health.Key{Target: "fine.example.com.", Port: 5060}, health.Resolution{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}})
	})
	if n := strings.Count(out, "sip1.example.com.example.com."); n != 1 {
		t.Errorf("warned %d times about the address-less target, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "zone origin was appended twice") || !strings.Contains(out, "has no A or AAAA address") {
		t.Errorf("warning does not say what is wrong:\n%s", out)
	}
	if !strings.Contains(out, "alias.example.com. port 5060 is a CNAME") {
		t.Errorf("no CNAME warning:\n%s", out)
	}
	if strings.Contains(out, "fine.example.com.") || strings.Count(out, "[WARNING]") != 2 {
		t.Errorf("want exactly two warnings:\n%s", out)
	}
}

func TestEventsMetrics(t *testing.T) {
	ev := &events{}
	k := health.Key{Target: "tls1.example.com.", Port: 5061, Method: probe.Method{Kind: probe.KindSIP, Transport: probe.TLS}}
	expiry := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	ev.ProbeDone(k, netip.MustParseAddr("192.0.2.1"), probe.Result{Up: true, Duration: time.Millisecond, CertNotAfter: expiry})
	if got := testutil.ToFloat64(certExpiry.WithLabelValues("tls1.example.com.", "5061", "")); got != float64(expiry.Unix()) {
		t.Errorf("tls_cert_expiry_timestamp_seconds = %v, want %d", got, expiry.Unix())
	}
	out := captureLog(func() { ev.StateChanged(k, health.Unknown, health.Down, "sip 503 Service Unavailable") })
	if got := testutil.ToFloat64(targetUp.WithLabelValues("tls1.example.com.", "5061", "sip-tls", "")); got != 0 {
		t.Errorf("target_up = %v after going down, want 0", got)
	}
	if want := "target tls1.example.com. port 5061 probe sip-tls: unknown -> down (sip 503 Service Unavailable)"; !strings.Contains(out, want) {
		t.Errorf("log %q lacks %q", out, want)
	}
	ev.Forgotten(k)
	// DeleteLabelValues reports whether there was a series to delete: Forgotten must have deleted them.
	if targetUp.DeleteLabelValues("tls1.example.com.", "5061", "sip-tls", "") {
		t.Error("target_up series left after the target was forgotten")
	}
	if certExpiry.DeleteLabelValues("tls1.example.com.", "5061", "") {
		t.Error("tls_cert_expiry_timestamp_seconds series left after the target was forgotten")
	}
}

// TestTargetsGaugeAcrossBlocks runs two server blocks: coredns_srvhealth_targets counts the targets of
// both, including one that stays unknown (its address is outside the block's scope, so it is never
// probed and never changes state). It used to be set by whichever block last saw a state change, to that
// block's count alone.
func TestTargetsGaugeAcrossBlocks(t *testing.T) {
	targetsNow := func() float64 { return testutil.ToFloat64(targetCount) }
	before := targetsNow()
	port := closedPort(t)
	a := startedHandler(t, `srvhealth a.gauge.test {
		interval 100ms
		timeout 50ms
		fails 1
	}`, perNameNext(port))
	b := startedHandler(t, `srvhealth b.gauge.test {
		scope 192.0.2.0/24
	}`, perNameNext(port))
	serve(t, a, "_sip._tcp.n1.a.gauge.test.", dns.TypeSRV, false)
	serve(t, a, "_sip._tcp.n2.a.gauge.test.", dns.TypeSRV, false)
	serve(t, b, "_sip._tcp.n1.b.gauge.test.", dns.TypeSRV, false)
	// Block a's targets (refused) go down, and report it, while b's stays unknown.
	for _, k := range []string{"t1.a.gauge.test.", "t2.a.gauge.test."} {
		k := health.NewKey(k, port, probe.Method{Kind: probe.KindSIP, Transport: probe.TCP}, "")
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if rep, _ := a.monitor.Report(k); rep.Status.State == health.Down {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never went down", k.Target)
			}
		}
	}
	if got := targetsNow() - before; got != 3 {
		t.Errorf("targets grew by %v with two blocks holding 2 and 1, want 3", got)
	}
	b.OnShutdown()
	if got := targetsNow() - before; got != 2 {
		t.Errorf("targets grew by %v once block b stopped, want 2", got)
	}
}

// TestOverflowCountsTargets asks ten times for a target refused at max_targets (the table holds a target
// clients keep asking for, which a new one never displaces): overflow_total counts the target once, not
// every query that named it.
func TestOverflowCountsTargets(t *testing.T) {
	h := startedHandler(t, `srvhealth overflow.test {
		interval 100ms
		timeout 50ms
		max_targets 1
	}`, perNameNext(closedPort(t)))
	before := testutil.ToFloat64(overflowCount)
	serve(t, h, "_sip._tcp.n1.overflow.test.", dns.TypeSRV, false)
	time.Sleep(60 * time.Millisecond) // a second sighting in a later window: n1 is kept
	serve(t, h, "_sip._tcp.n1.overflow.test.", dns.TypeSRV, false)
	for range 10 {
		serve(t, h, "_sip._tcp.n2.overflow.test.", dns.TypeSRV, false)
	}
	serve(t, h, "_sip._tcp.n3.overflow.test.", dns.TypeSRV, false)
	if got := testutil.ToFloat64(overflowCount) - before; got != 2 {
		t.Errorf("overflow_total grew by %v for two refused targets, want 2", got)
	}
}

// TestCertExpirySharedByMethods has two probes (tls and sip-tls) of one port and domain see a certificate:
// forgetting one must leave the series the other still sets.
func TestCertExpirySharedByMethods(t *testing.T) {
	ev := &events{}
	tlsKey := health.NewKey("shared.example.com.", 5061, probe.Method{Kind: probe.KindTLS, Transport: probe.TLS}, "example.com")
	sipKey := health.NewKey("shared.example.com.", 5061, probe.Method{Kind: probe.KindSIP, Transport: probe.TLS}, "example.com")
	expiry := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	a := netip.MustParseAddr("192.0.2.1")
	ev.ProbeDone(tlsKey, a, probe.Result{Up: true, CertNotAfter: expiry})
	ev.ProbeDone(sipKey, a, probe.Result{Up: true, CertNotAfter: expiry})
	ev.Forgotten(tlsKey)
	// A series that is gone reads 0 here (WithLabelValues makes it anew), which fails the check as well.
	if got := testutil.ToFloat64(certExpiry.WithLabelValues("shared.example.com.", "5061", "example.com")); got != float64(expiry.Unix()) {
		t.Errorf("forgetting the tls probe's key left the series at %v, want %d for sip-tls", got, expiry.Unix())
	}
	ev.Forgotten(sipKey)
	// DeleteLabelValues reports whether there was a series to delete.
	if certExpiry.DeleteLabelValues("shared.example.com.", "5061", "example.com") {
		t.Error("series left after the last key using it was forgotten")
	}
}

// TestResolveFailureLogRateLimited resolves a failing target again and again: one line per target per
// resolveLogEvery, and no more than resolveLogBurst lines for all targets together.
func TestResolveFailureLogRateLimited(t *testing.T) {
	r := chainResolver{next: func() plugin.Handler { return resolverNext{a: "servfail", aaaa: "servfail"} }, ev: &events{}}
	out := captureLog(func() {
		for range 5 {
			r.Resolve(context.Background(), "same.example.com.")
		}
		for i := range 3 * resolveLogBurst {
			r.Resolve(context.Background(), fmt.Sprintf("t%d.example.com.", i))
		}
	})
	if n := strings.Count(out, "same.example.com."); n != 1 {
		t.Errorf("a target failing 5 times was logged %d times, want once", n)
	}
	if n := strings.Count(out, "[WARNING]"); n != resolveLogBurst {
		t.Errorf("%d lines logged, want the burst limit %d", n, resolveLogBurst)
	}
	var l logLimiter
	now := time.Now()
	for i := range resolveLogBurst + 3 {
		l.allow(fmt.Sprintf("t%d", i), now)
	}
	if n, ok := l.allow("late", now.Add(resolveLogEvery)); !ok || n != 3 {
		t.Errorf("after the window: allow = %d, %v; want the 3 held back reported", n, ok)
	}
}
