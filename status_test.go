package srvhealth

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// fakeReports is a status source with reports made up by the test.
type fakeReports []health.Report

func (f fakeReports) Reports() []health.Report { return f }

func (f fakeReports) Report(k health.Key) (health.Report, bool) {
	for _, r := range f {
		if r.Key == k {
			return r, true
		}
	}
	return health.Report{}, false
}

// packingWriter is a client's connection: it sends the reply on the wire, so a reply that does not pack
// is an error, as it is for a real one, and nothing reaches the client.
type packingWriter struct {
	test.ResponseWriter
	msg *dns.Msg
	err error // when set, every write fails with it
}

func (w *packingWriter) WriteMsg(m *dns.Msg) error {
	if w.err != nil {
		return w.err
	}
	if _, err := m.Pack(); err != nil {
		return err
	}
	w.msg = m
	return nil
}

// TestStatusBoundsWhatAServerSays: a probed server decides the reason of its last probe result (a SIP
// reason phrase, an XMPP stream error). However long it is, the status must still answer: a character
// string holds at most 255 octets (RFC 1035 §3.3), and one over it makes the reply unpackable, so the
// status would stop answering for as long as that reply lasts.
func TestStatusBoundsWhatAServerSays(t *testing.T) {
	m := probe.Method{Kind: probe.KindSIP, Transport: probe.TCP}
	long := strings.Repeat("Service Unavailable, try again later ", 40) // 1480 octets
	var addrs []health.AddrReport
	for i := range 40 {
		addrs = append(addrs, health.AddrReport{Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), State: health.Down,
			Last: probe.Result{Reason: "503 " + long, Duration: time.Millisecond}})
	}
	rep := health.Report{Key: health.NewKey("sip1.example.com.", 5060, m, "example.com"), Domain: "example.com",
		Status: health.Status{State: health.Down, Resolved: true}, Addrs: addrs}
	h := newTestHandler(t, "srvhealth example.com {\nstatus\n}", &fakeView{}, upstream(sipAnswer))
	h.reports = fakeReports{rep}
	for _, name := range []string{"srvhealth.example.com.", "_sip._tcp.example.com."} {
		req := new(dns.Msg)
		req.SetQuestion(name, dns.TypeTXT)
		req.Question[0].Qclass = dns.ClassCHAOS
		w := &packingWriter{ResponseWriter: test.ResponseWriter{RemoteIP: "127.0.0.1", TCP: true}}
		if _, err := h.ServeDNS(context.Background(), w, req); err != nil {
			t.Fatalf("%s: ServeDNS: %v", name, err)
		}
		if w.msg == nil {
			t.Fatalf("%s: no reply reached the client", name)
		}
		var row *dns.TXT
		for _, rr := range w.msg.Answer {
			if txt := rr.(*dns.TXT); slices.Contains(txt.Txt, "target=sip1.example.com.") {
				row = txt
			}
		}
		if row == nil {
			t.Fatalf("%s: no row for sip1 in %v", name, w.msg.Answer)
		}
		size := 0
		for _, s := range row.Txt {
			size += len(s) + 1
			if len(s) > 255 {
				t.Errorf("%s: a string of %d octets", name, len(s))
			}
		}
		if size > maxStatusRow {
			t.Errorf("%s: a row of %d octets, want at most %d", name, size, maxStatusRow)
		}
		if !slices.ContainsFunc(row.Txt, func(s string) bool { return strings.HasPrefix(s, "addr=192.0.2.1 down 1.000ms 503 Service") }) {
			t.Errorf("%s: the first address's result is gone: %q", name, row.Txt)
		}
	}
}

// TestStatusWriteErrorAnswersServfail: a status reply that cannot be written is not silently lost: the
// handler says SERVFAIL, so the server answers the client with that.
func TestStatusWriteErrorAnswersServfail(t *testing.T) {
	h := newTestHandler(t, "srvhealth example.com {\nstatus\n}", &fakeView{}, upstream(sipAnswer))
	req := new(dns.Msg)
	req.SetQuestion("srvhealth.example.com.", dns.TypeTXT)
	req.Question[0].Qclass = dns.ClassCHAOS
	w := &packingWriter{ResponseWriter: test.ResponseWriter{RemoteIP: "127.0.0.1"}, err: errors.New("no route to host")}
	rcode, err := h.ServeDNS(context.Background(), w, req)
	if rcode != dns.RcodeServerFailure || err != nil {
		t.Errorf("rcode %s, err %v; want SERVFAIL for the server to write, and no error (logged once, not per query)", dns.RcodeToString[rcode], err)
	}
}

func TestStatusString(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 octets, two per rune
	for _, tc := range []struct{ in, want string }{
		{"addr=192.0.2.1 down 1.000ms 503 Busy", "addr=192.0.2.1 down 1.000ms 503 Busy"},
		{"addr=192.0.2.1 down 1.000ms <text>a\r\nb\tc</text>", "addr=192.0.2.1 down 1.000ms <text>a  b c</text>"},
		{long, strings.Repeat("é", 126) + "..."},
		{`503 \065 busy\`, `503 \\065 busy\\`},
		{strings.Repeat("a", 251) + `\0123456789`, strings.Repeat("a", 251) + "..."}, // no half escape left
	} {
		got := statusString(tc.in)
		if got != tc.want || len(got) > 255 || !utf8.ValidString(got) {
			t.Errorf("statusString(%q) = %q (%d octets), want %q", tc.in, got, len(got), tc.want)
		}
	}
}
