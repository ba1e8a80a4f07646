package srvhealth

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

func TestStatusAll(t *testing.T) {
	zones := []string{"example.com.", "example.net."}
	for name, want := range map[string]bool{
		"srvhealth.example.com.":   true,
		"SRVHEALTH.Example.NET.":   true,
		"srvhealth.example.org.":   false,
		"srvhealth.":               false,
		"x.srvhealth.example.com.": false,
		"_sip._udp.example.com.":   false,
	} {
		if got := statusAll(name, zones); got != want {
			t.Errorf("statusAll(%q) = %v, want %v", name, got, want)
		}
	}
	if !statusAll("srvhealth.", []string{"."}) {
		t.Error("srvhealth. under the root zone is the status name")
	}
}

func TestStatusAllowed(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	for addr, want := range map[net.Addr]bool{
		&net.UDPAddr{IP: net.ParseIP("127.0.0.5")}:        true,
		&net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1")}: true,
		&net.UDPAddr{IP: net.ParseIP("2001:db8::53")}:     true,
		&net.UDPAddr{IP: net.ParseIP("192.0.2.1")}:        false,
		&net.UnixAddr{Name: "/tmp/x"}:                     false,
	} {
		if got := allowed(allow, addr); got != want {
			t.Errorf("allowed(%v) = %v, want %v", addr, got, want)
		}
	}
}

func TestStatusStrings(t *testing.T) {
	since := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	m := probe.Method{Kind: probe.KindSIP, Transport: probe.UDP}
	r := health.Report{
		Key: health.Key{Target: "sip1.example.com.", Port: 5060, Method: m}, Domain: "example.com", Since: since,
		Status: health.Status{State: health.Down, Resolved: true, Checked: since.Add(time.Minute)},
		Addrs: []health.AddrReport{{Addr: netip.MustParseAddr("192.0.2.1"), State: health.Down,
			Last: probe.Result{Reason: "timeout", Duration: 2 * time.Second}}},
	}
	got := statusStrings("sip1.example.com.", 5060, m, r, true, false)
	want := []string{"target=sip1.example.com.", "port=5060", "probe=sip-udp", "domain=example.com", "state=down",
		"since=2026-11-30T03:00:00Z", "checked=2026-11-30T03:01:00Z", "addr=192.0.2.1 down 2.000s timeout"}
	if !slices.Equal(got, want) {
		t.Errorf("statusStrings =\n%q\nwant\n%q", got, want)
	}
	if got := statusStrings("sip1.example.com.", 5060, m, r, true, true); !slices.Contains(got, "state=drained") || !slices.Contains(got, "probed=down") {
		t.Errorf("drained: %q", got)
	}
	for _, tc := range []struct {
		r       health.Report
		inScope bool
		want    string
	}{
		{health.Report{}, false, "out of scope"},
		{health.Report{}, true, "unknown"},
		{health.Report{Key: r.Key}, true, "not resolved"},
		{health.Report{Key: r.Key, Status: health.Status{Resolved: true, CNAME: true}}, true, "cname"},
		{health.Report{Key: r.Key, Status: health.Status{Resolved: true, NoAddress: true}}, true, "no address"},
		{health.Report{Key: r.Key, Status: health.Status{Resolved: true, State: health.Up}}, true, "up"},
	} {
		if got := targetState(tc.r, tc.inScope); got != tc.want {
			t.Errorf("targetState(%+v, %v) = %q, want %q", tc.r.Status, tc.inScope, got, tc.want)
		}
	}
}

// askStatus asks h for CH TXT name from the client at ip and returns the reply.
func askStatus(t *testing.T, h *Handler, name, ip string) *dns.Msg {
	t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(name, dns.TypeTXT)
	req.Question[0].Qclass = dns.ClassCHAOS
	rec := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: ip})
	if _, err := h.ServeDNS(context.Background(), rec, req); err != nil {
		t.Fatalf("ServeDNS: %v", err)
	}
	if rec.Msg == nil {
		t.Fatal("no reply written")
	}
	return rec.Msg
}

// TestStatusMappedPrefix: clients are matched unmapped (an IPv4 client on a dual-stack socket arrives as
// ::ffff:a.b.c.d), so an IPv4-mapped prefix in the status line must mean the IPv4 prefix it maps, as it does
// in scope; accepted as it is, it would match nobody.
func TestStatusMappedPrefix(t *testing.T) {
	h := newTestHandler(t, "srvhealth example.com {\nstatus ::ffff:127.0.0.0/104\n}", &fakeView{}, upstream(sipAnswer))
	for _, ip := range []string{"127.0.0.1", "::ffff:127.0.0.1"} {
		if m := askStatus(t, h, "srvhealth.example.com.", ip); m.Rcode != dns.RcodeSuccess {
			t.Errorf("client %s: rcode %s, want the status (NOERROR)", ip, dns.RcodeToString[m.Rcode])
		}
	}
}

// TestStatusOutsiderCannotTellWhatIsMonitored: a client outside the status CIDRs gets, for the status
// names (srvhealth.ZONE, a monitored service), the answer it gets for any other CH TXT name: the server's
// REFUSED when the status alone opens CH, the next plugin's answer when another plugin answers CH. A
// REFUSED with AA for those names alone would list what is monitored.
func TestStatusOutsiderCannotTellWhatIsMonitored(t *testing.T) {
	nxdomain := func(r *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		return m
	}
	for _, after := range []string{"file", "forward"} {
		s, _ := blockServer(t, "srvhealth example.com {\nstatus 127.0.0.0/8\n}", &fakeView{}, &named{name: after, answer: nxdomain})
		other := ask(t, s, "192.0.2.77", "www.example.com.", dns.TypeTXT, dns.ClassCHAOS)
		for _, name := range []string{"srvhealth.example.com.", "_sip._udp.example.com."} {
			m := ask(t, s, "192.0.2.77", name, dns.TypeTXT, dns.ClassCHAOS)
			if m.Rcode != other.Rcode || m.Authoritative != other.Authoritative || len(m.Answer) != 0 {
				t.Errorf("%s after srvhealth, outsider asking %s: rcode %s aa %v answer %v, want what www.example.com gets: %s aa %v",
					after, name, dns.RcodeToString[m.Rcode], m.Authoritative, m.Answer, dns.RcodeToString[other.Rcode], other.Authoritative)
			}
		}
		if m := ask(t, s, "127.0.0.1", "srvhealth.example.com.", dns.TypeTXT, dns.ClassCHAOS); m.Rcode != dns.RcodeSuccess || !m.Authoritative {
			t.Errorf("%s after srvhealth, allowed client: rcode %s aa %v, want the status", after, dns.RcodeToString[m.Rcode], m.Authoritative)
		}
	}
}
