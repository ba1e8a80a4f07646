package srvhealth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	golog "log"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
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

func TestProbeOptionsSIPFailCodes(t *testing.T) {
	o := mustParse(t, "srvhealth {\n sip_fail_codes 404 503\n}").Probe
	for code, want := range map[int]bool{200: true, 404: false, 503: false, 480: true, 100: false} {
		if got := o.SIPAccept(code); got != want {
			t.Errorf("SIPAccept(%d) = %v, want %v", code, got, want)
		}
	}
	if o := mustParse(t, "srvhealth").Probe; o.SIPAccept != nil {
		t.Error("without sip_fail_codes the probe's default must apply")
	}
}

func TestMaxInFlightProperty(t *testing.T) {
	if got := mustParse(t, "srvhealth example.com").MaxInFlight; got != health.DefaultMaxInFlight {
		t.Errorf("default max_in_flight %d, want %d", got, health.DefaultMaxInFlight)
	}
	if got := mustParse(t, "srvhealth example.com {\n max_in_flight 100\n}").MaxInFlight; got != 100 {
		t.Errorf("max_in_flight 100 parsed as %d", got)
	}
	for _, bad := range []string{"0", "-1", "many"} {
		if _, err := parse(caddy.NewTestController("dns", "srvhealth example.com {\n max_in_flight "+bad+"\n}")); err == nil ||
			!strings.Contains(err.Error(), "max_in_flight") {
			t.Errorf("max_in_flight %s: error %v, want one naming max_in_flight", bad, err)
		}
	}
}

// gathered returns the values of a metric's series in the default registry, keyed by the value of label.
func gathered(t *testing.T, name, label string) map[string]float64 {
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
			out[key] += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return out
}

// TestTargetsGaugeAcrossBlocks runs two server blocks: coredns_srvhealth_targets counts the targets of
// both, including one that stays unknown (its address is outside the block's scope, so it is never
// probed and never changes state). It used to be set by whichever block last saw a state change, to that
// block's count alone.
func TestTargetsGaugeAcrossBlocks(t *testing.T) {
	targetsNow := func() float64 { return gathered(t, "coredns_srvhealth_targets", "")[""] }
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
			if st, _ := a.monitor.Lookup(k); st.State == health.Down {
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

// TestOverflowCountsTargets asks ten times for a target refused at max_targets: overflow_total counts the
// target once, not every query that named it.
func TestOverflowCountsTargets(t *testing.T) {
	h := startedHandler(t, `srvhealth overflow.test {
		max_targets 1
	}`, perNameNext(closedPort(t)))
	before := counterValue(t, overflowCount)
	serve(t, h, "_sip._tcp.n1.overflow.test.", dns.TypeSRV, false)
	for range 10 {
		serve(t, h, "_sip._tcp.n2.overflow.test.", dns.TypeSRV, false)
	}
	serve(t, h, "_sip._tcp.n3.overflow.test.", dns.TypeSRV, false)
	if got := counterValue(t, overflowCount) - before; got != 2 {
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
	series := func() map[string]float64 {
		return gathered(t, "coredns_srvhealth_tls_cert_expiry_timestamp_seconds", "target")
	}
	ev.Forgotten(tlsKey)
	if got, ok := series()["shared.example.com."]; !ok || got != float64(expiry.Unix()) {
		t.Errorf("forgetting the tls probe's key left the series at %v (present %v), want %d for sip-tls", got, ok, expiry.Unix())
	}
	ev.Forgotten(sipKey)
	if _, ok := series()["shared.example.com."]; ok {
		t.Error("series left after the last key using it was forgotten")
	}
}

// resolverNext answers A and AAAA queries for any name as told: with an address, by hanging until the
// query's context ends (an upstream that drops that type), or with an error code; TC says to truncate the
// UDP reply of that type (the TCP one is whole).
type resolverNext struct {
	a, aaaa string // "addr:<ip>", "hang", "servfail", "truncate:<ip>", "truncate-always"
}

func (n resolverNext) Name() string { return "resolverNext" }

func (n resolverNext) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	q := r.Question[0]
	how := n.a
	if q.Qtype == dns.TypeAAAA {
		how = n.aaaa
	}
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	m := new(dns.Msg)
	m.SetReply(r)
	verb, ip, _ := strings.Cut(how, ":")
	switch verb {
	case "hang":
		<-ctx.Done()
		return dns.RcodeServerFailure, ctx.Err()
	case "servfail":
		m.Rcode = dns.RcodeServerFailure
	case "truncate-always":
		m.Truncated = true
	case "truncate":
		if !tcp {
			m.Truncated = true
			break
		}
		fallthrough
	case "addr":
		rr, err := dns.NewRR(q.Name + " 60 IN " + dns.TypeToString[q.Qtype] + " " + ip)
		if err != nil {
			return dns.RcodeServerFailure, err
		}
		m.Answer = append(m.Answer, rr)
	}
	w.WriteMsg(m)
	return m.Rcode, nil
}

// TestChainResolverPartial checks that one address type failing does not throw the other away, that a
// truncated reply is asked again over TCP and never used as whole, that a failure only counts as one
// when no address is known, and that every failure is counted and logged, a timeout included.
func TestChainResolverPartial(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		name      string
		next      resolverNext
		want      []netip.Addr
		wantErr   bool
		failures  map[string]float64 // "qtype reason" -> increase of resolve_failures_total
		logSubstr string
	}{
		{"both answer", resolverNext{a: "addr:192.0.2.1", aaaa: "addr:2001:db8::1"}, []netip.Addr{v4, v6}, false, nil, ""},
		{"AAAA dropped", resolverNext{a: "addr:192.0.2.1", aaaa: "hang"}, []netip.Addr{v4}, false,
			map[string]float64{"AAAA timeout": 1}, "AAAA: timeout"},
		{"A servfail", resolverNext{a: "servfail", aaaa: "addr:2001:db8::1"}, []netip.Addr{v6}, false,
			map[string]float64{"A servfail": 1}, "A: SERVFAIL"},
		{"truncated over UDP, whole over TCP", resolverNext{a: "truncate:192.0.2.1", aaaa: "addr:2001:db8::1"}, []netip.Addr{v4, v6}, false, nil, ""},
		{"truncated over TCP too", resolverNext{a: "truncate-always", aaaa: "hang"}, nil, true,
			map[string]float64{"A truncated": 1, "AAAA timeout": 1}, "cannot be resolved"},
		{"everything times out", resolverNext{a: "hang", aaaa: "hang"}, nil, true,
			map[string]float64{"A timeout": 1, "AAAA timeout": 1}, "cannot be resolved"},
	}
	failures := func() map[string]float64 {
		out := map[string]float64{}
		mfs, err := prometheus.DefaultGatherer.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "coredns_srvhealth_resolve_failures_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				var qt, reason string
				for _, lp := range m.GetLabel() {
					switch lp.GetName() {
					case "qtype":
						qt = lp.GetValue()
					case "reason":
						reason = lp.GetValue()
					}
				}
				out[qt+" "+reason] = m.GetCounter().GetValue()
			}
		}
		return out
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := strings.ReplaceAll(tc.name, " ", "-") + ".example.com."
			r := chainResolver{next: func() plugin.Handler { return tc.next }, ev: &events{}}
			before := failures()
			var res health.Resolution
			var err error
			out := captureLog(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				res, err = r.Resolve(ctx, target)
			})
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error %v", err, tc.wantErr)
			}
			slices.SortFunc(res.Addrs, netip.Addr.Compare)
			if !slices.Equal(res.Addrs, tc.want) {
				t.Errorf("addresses %v, want %v", res.Addrs, tc.want)
			}
			after := failures()
			for k, v := range after {
				if d := v - before[k]; d != tc.failures[k] {
					t.Errorf("resolve_failures_total{%s} grew by %v, want %v", k, d, tc.failures[k])
				}
			}
			for k, v := range tc.failures {
				if after[k]-before[k] != v {
					t.Errorf("resolve_failures_total{%s} grew by %v, want %v", k, after[k]-before[k], v)
				}
			}
			if tc.logSubstr == "" {
				if out != "" {
					t.Errorf("logged %q for a resolution without failure", out)
				}
			} else if !strings.Contains(out, target) || !strings.Contains(out, tc.logSubstr) {
				t.Errorf("log %q does not name %s and %q", out, target, tc.logSubstr)
			}
		})
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
