package srvhealth

import (
	"bytes"
	"io"
	golog "log"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
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

func TestDoubled(t *testing.T) {
	zones := []string{"example.com."}
	for name, want := range map[string]bool{
		"sip1.example.com.example.com.": true,
		"example.com.example.com.":      true,
		"sip1.example.com.":             false,
		"sip1.example.com.example.net.": false,
		"example.com.":                  false,
	} {
		if got := doubled(name, zones); got != want {
			t.Errorf("doubled(%q) = %v, want %v", name, got, want)
		}
	}
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
	ev := &events{monitor: health.New(health.Config{}, nil, nil, nil)}
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
	o, err := probeOptions(mustParse(t, "srvhealth {\n sip_fail_codes 404 503\n}"))
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[int]bool{200: true, 404: false, 503: false, 480: true, 100: false} {
		if got := o.SIPAccept(code); got != want {
			t.Errorf("SIPAccept(%d) = %v, want %v", code, got, want)
		}
	}
	if o, _ := probeOptions(mustParse(t, "srvhealth")); o.SIPAccept != nil {
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
