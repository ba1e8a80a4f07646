package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/internal/testpeer"
	"github.com/srvhealth/srvhealth/lint"
)

// The tests in this file drive the whole command in-process, with run, against the fakes of
// fake_test.go: three authoritative servers for voip.test on 127.0.60.1-3, and SIP and XMPP servers on
// 127.0.61.x. The real-server tests are in test/check_test.go.

// env is a domain under construction: its records, the fakes behind its targets, a certificate.
type env struct {
	t      testing.TB
	cert   *testpeer.Cert
	caFile string
	tlsCfg *tls.Config
	hosts  map[string]string // target name -> its loopback address
	lines  []string          // records besides SOA and NS
}

func newEnv(t testing.TB) *env {
	cert := testpeer.NewCert(t, testpeer.CertSpec{Names: []string{"voip.test"}})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	// CertFile holds the leaf and then the CA: trusting both is trusting the CA.
	pem, err := os.ReadFile(cert.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, cert: cert, caFile: ca, tlsCfg: &tls.Config{Certificates: []tls.Certificate{cert.TLS}}, hosts: map[string]string{}}
}

// host returns the loopback address of a target, adding its A record the first time.
func (e *env) host(name string) string {
	if ip, ok := e.hosts[name]; ok {
		return ip
	}
	ip := "127.0.61." + strconv.Itoa(len(e.hosts)+1)
	e.hosts[name] = ip
	e.lines = append(e.lines, name+" IN A "+ip)
	return ip
}

// add adds zone lines.
func (e *env) add(lines ...string) { e.lines = append(e.lines, lines...) }

// service publishes label with one SRV record per target, each target a fake that start starts on a
// free port of the target's address, until the test ends.
func (e *env) service(label string, targets []string, start fake) {
	for _, t := range targets {
		s, err := start(net.JoinHostPort(e.host(t), "0"))
		if err != nil {
			e.t.Fatalf("fake %s for %s: %v", label, t, err)
		}
		e.t.Cleanup(s.Close)
		e.add(fmt.Sprintf("%s IN SRV 10 50 %d %s", label, s.Addr().Port(), t))
	}
}

// healthy publishes all eight services, each with n answering targets, with STARTTLS required and
// certificates for voip.test.
func (e *env) healthy(n int) {
	names := func(prefix string) []string {
		var out []string
		for i := 1; i <= n; i++ {
			out = append(out, prefix+strconv.Itoa(i))
		}
		return out
	}
	sip, xmpp := names("sip"), names("xmpp")
	e.service("_sip._udp", sip, sipUDP("200 OK"))
	e.service("_sip._tcp", sip, sipTCP("200 OK"))
	e.service("_sip._tls", sip, sipTLS("200 OK", e.tlsCfg))
	e.service("_sips._tcp", sip, sipTLS("200 OK", e.tlsCfg))
	e.service("_xmpp-client._tcp", xmpp, xmppStartTLS(startTLSRequired, e.tlsCfg))
	e.service("_xmpp-server._tcp", xmpp, xmppStartTLS(startTLSRequired, e.tlsCfg))
	e.service("_xmpps-client._tcp", xmpp, xmppDirect(e.tlsCfg))
	e.service("_xmpps-server._tcp", xmpp, xmppDirect(e.tlsCfg))
}

// zone is the zone text with serial, nservers NS records, e's records, and extra.
func (e *env) zone(serial, nservers int, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN voip.test.\n$TTL 300\n@ IN SOA ns1 hostmaster %d 7200 3600 1209600 300\n", serial)
	for i := 1; i <= nservers; i++ {
		fmt.Fprintf(&b, "@ IN NS ns%d\nns%d IN A 127.0.60.%d\n", i, i, i)
	}
	for _, l := range append(slices.Clone(e.lines), extra...) {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// serve starts three authoritative servers with e's zone and returns their port.
func (e *env) serve() int {
	z := e.zone(1, 3)
	return startNS(e.t, nil, z, z, z)
}

// run runs srvhealth check against the fake servers on port, with e's CA, and args.
func (e *env) run(port int, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	all := append([]string{"check", "--resolver", "127.0.60.1:" + strconv.Itoa(port), "--port", strconv.Itoa(port),
		"--timeout", "1s", "--ca", e.caFile}, args...)
	code = run(all, &out, &errb)
	return code, out.String(), errb.String()
}

// report runs with --json and decodes the report.
func (e *env) report(port int, args ...string) (int, *Report) {
	e.t.Helper()
	code, out, errs := e.run(port, append(args, "--json")...)
	var r Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		e.t.Fatalf("%v; stdout:\n%s\nstderr:\n%s", err, out, errs)
	}
	if r.ExitCode != code {
		e.t.Errorf("report says exit code %d, run returned %d", r.ExitCode, code)
	}
	return code, &r
}

func codes(fs []lint.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Code)
	}
	return out
}

func findingsText(fs []lint.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s %s %s %s: %s\n", f.Severity, f.Code, f.Name, f.Target, f.Address, f.Message)
	}
	return b.String()
}

func TestRunUsage(t *testing.T) {
	zone := filepath.Join(t.TempDir(), "db")
	os.WriteFile(zone, []byte("$ORIGIN example.com.\n@ IN SOA ns1 h 1 2 3 4 5\n"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{nil, exitUnknown, "usage: srvhealth COMMAND"},
		{[]string{"help"}, exitOK, "check"},
		{[]string{"--help"}, exitOK, "check"},
		{[]string{"frobnicate"}, exitUnknown, `unknown command "frobnicate"`},
		{[]string{"check"}, exitUnknown, "no domain and no --zone"},
		{[]string{"check", "-h"}, exitOK, "--zone FILE"},
		{[]string{"check", "--bogus", "example.com"}, exitUnknown, "flag provided but not defined"},
		{[]string{"check", "--timeout", "0s", "example.com"}, exitUnknown, "--timeout must be positive"},
		{[]string{"check", "--parallel", "0", "example.com"}, exitUnknown, "--parallel"},
		{[]string{"check", "--port", "70000", "example.com"}, exitUnknown, "--port"},
		{[]string{"check", "-4", "-6", "example.com"}, exitUnknown, "exclude"},
		{[]string{"check", "exa mple.com"}, exitUnknown, "not a domain name"},
		{[]string{"check", "--resolver", "127.0.0.1:53", "--ca", "/nonexistent", "example.com"}, exitUnknown, "--ca"},
		{[]string{"check", "--zone", "/nonexistent/db"}, exitUnknown, "no such file"},
		// Flags after the arguments count too.
		{[]string{"check", "--zone", zone, "--json"}, exitWarning, `"status": "warning"`},
	} {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		if code != c.code || !strings.Contains(out.String()+errb.String(), c.out) {
			t.Errorf("srvhealth %q: exit %d, want %d, and %q in:\n%s%s", c.args, code, c.code, c.out, out.String(), errb.String())
		}
	}
}

func TestCheckZoneFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	head := "$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.53\nsip1 IN A 192.0.2.1\nsip2 IN A 192.0.2.2\n"
	clean := "_sip._udp IN SRV 10 1 5060 sip1\n_sip._udp IN SRV 10 1 5060 sip2\n_sips._tcp IN SRV 10 1 5061 sip1\n_sips._tcp IN SRV 10 1 5061 sip2\n"
	for _, c := range []struct {
		name, text string
		args       []string
		code       int
		want       []string
		line       int // of the first finding
	}{
		{"clean", head + clean, nil, exitOK, nil, 0},
		{"warning", head + clean + "_sip._tcp 86400 IN SRV 10 1 5060 sip1\n_sip._tcp 86400 IN SRV 10 1 5060 sip2\n", nil, exitWarning, []string{"ttl-long"}, 12},
		{"missing dot", head + clean + "_sip._tcp IN SRV 10 1 5060 sip1.example.com\n_sip._tcp IN SRV 10 1 5060 sip2\n", nil, exitCritical, []string{"missing-dot", "no-address"}, 12},
		{"no origin", "@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.53\nsip1 IN A 192.0.2.1\nsip2 IN A 192.0.2.2\n" + clean, []string{"--origin", "example.com"}, exitOK, nil, 0},
		{"no origin given", "@ IN SOA ns1 h 1 2 3 4 5\n", nil, exitUnknown, nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"check", "--json", "--zone", write(c.name, c.text)}, c.args...), &out, &errb)
			var r Report
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("%v:\n%s", err, out.String())
			}
			if code != c.code || r.ExitCode != code {
				t.Fatalf("exit %d (report %d), want %d; stderr %s\n%s", code, r.ExitCode, c.code, errb.String(), out.String())
			}
			if code == exitUnknown {
				if r.Checks[0].Error == "" || !strings.Contains(errb.String(), "no $ORIGIN") {
					t.Errorf("no reason for exit 3: report %q, stderr %q", r.Checks[0].Error, errb.String())
				}
				return
			}
			got := codes(r.Checks[0].Findings)
			if !slices.Equal(got, c.want) {
				t.Errorf("findings %v, want %v", got, c.want)
			}
			if c.line != 0 && r.Checks[0].Findings[0].Line != c.line {
				t.Errorf("finding on line %d, want %d", r.Checks[0].Findings[0].Line, c.line)
			}
		})
	}

	// The repository's example zone, as a table.
	var out bytes.Buffer
	code := run([]string{"check", "--zone", "../../testdata/example.com.db"}, &out, &out)
	for _, want := range []string{"error     cname-target", "line 17 alias.example.com.", "no-address", "CRITICAL: 2 errors, 0 warnings, 4 info"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
	if code != exitCritical {
		t.Errorf("exit %d, want 2", code)
	}
}

// Every service with two answering targets, three servers that agree, TLS and STARTTLS in order:
// nothing to report.
func TestCheckHealthy(t *testing.T) {
	e := newEnv(t)
	e.healthy(2)
	port := e.serve()
	code, r := e.report(port, "voip.test")
	c := r.Checks[0]
	if code != exitOK || len(c.Findings) != 0 {
		t.Fatalf("exit %d, findings:\n%s", code, findingsText(c.Findings))
	}
	if c.Zone != "voip.test." || len(c.Servers) != 3 || c.Servers[2].Name != "ns3.voip.test." || c.Servers[0].Serial != 1 {
		t.Errorf("zone %q, servers %+v", c.Zone, c.Servers)
	}
	if len(c.Records) != 16 || len(c.Probes) != 16 || len(c.Targets) != 4 {
		t.Fatalf("%d records, %d probes, %d targets; want 16, 16, 4", len(c.Records), len(c.Probes), len(c.Targets))
	}
	for _, rec := range c.Records {
		if len(rec.On) != 3 || len(rec.MissingOn) != 0 {
			t.Errorf("record %s %s on %v, missing on %v", rec.Name, rec.Data, rec.On, rec.MissingOn)
		}
	}
	for _, p := range c.Probes {
		if !p.Up {
			t.Errorf("probe %+v down", p)
		}
		switch {
		case strings.HasPrefix(p.Method, "sip"):
			if p.SIPServer != "FakeSIP/1.0" {
				t.Errorf("%s %s: SIP server %q", p.Service, p.Address, p.SIPServer)
			}
		case strings.HasSuffix(p.Method, "-tls"):
			if p.TLS == nil || p.TLS.ALPN == "" || p.StartTLS != "" {
				t.Errorf("%s %s: TLS %+v STARTTLS %q, want direct TLS with ALPN", p.Service, p.Address, p.TLS, p.StartTLS)
			}
		default:
			if p.StartTLS != "required" || p.TLS == nil || p.TLS.Names[0] != "voip.test" || p.TLS.DaysLeft < 28 {
				t.Errorf("%s %s: STARTTLS %q, TLS %+v", p.Service, p.Address, p.StartTLS, p.TLS)
			}
		}
		if strings.HasPrefix(p.Method, "sip-tls") && (p.TLS == nil || p.TLS.Version != "TLS 1.3") {
			t.Errorf("%s: TLS %+v", p.Service, p.TLS)
		}
	}

	// The same as a table.
	code, out, _ := e.run(port, "voip.test")
	for _, want := range []string{";; voip.test. in zone voip.test., resolver 127.0.60.1:", "ns2.voip.test.", "authoritative",
		"_sips._tcp.voip.test. 300 IN SRV 10 50 ", "3/3", "sip-udp", "FakeSIP/1.0", "starttls required; TLS 1.3 cert voip.test",
		"no findings", "OK: 0 errors, 0 warnings, 0 info"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the table:\n%s", want, out)
		}
	}
	if code != exitOK {
		t.Errorf("exit %d", code)
	}
}

// One authoritative server has not seen the last update: an older serial, one record less.
func TestCheckStaleServer(t *testing.T) {
	e := newEnv(t)
	e.healthy(2)
	stale := e.zone(1, 3)
	e.service("_sip._udp", []string{"sip3"}, sipUDP("200 OK"))
	fresh := e.zone(2, 3)
	port := startNS(t, nil, fresh, fresh, stale)
	code, r := e.report(port, "voip.test")
	c := r.Checks[0]
	if code != exitWarning || !slices.Equal(codes(c.Findings), []string{"ns-disagree", "ns-disagree"}) {
		t.Fatalf("exit %d, findings (want ns-disagree for the SRV and the new target's A):\n%s", code, findingsText(c.Findings))
	}
	if !strings.Contains(c.Findings[0].Message, "ns3.voip.test. 1") {
		t.Errorf("no stale serial in %q", c.Findings[0].Message)
	}
	var missing int
	for _, rec := range c.Records {
		if rec.SRV != nil && rec.SRV.Target == "sip3.voip.test." {
			missing++
			if !slices.Equal(rec.MissingOn, []string{"ns3.voip.test."}) || len(rec.On) != 2 {
				t.Errorf("sip3's record on %v, missing on %v", rec.On, rec.MissingOn)
			}
		}
	}
	if missing != 1 || c.Servers[2].Serial != 1 || c.Servers[0].Serial != 2 {
		t.Errorf("%d records of sip3; serials %d %d", missing, c.Servers[0].Serial, c.Servers[2].Serial)
	}
	_, out, _ := e.run(port, "voip.test")
	if !strings.Contains(out, "2/3 (not on ns3.voip.test.)") {
		t.Errorf("the table does not say where sip3 is missing:\n%s", out)
	}
}

func TestCheckServerFailures(t *testing.T) {
	e := newEnv(t)
	e.healthy(2)
	z := e.zone(1, 3)
	port := startNS(t, []nsMode{nsGood, nsSilent, nsLame}, z, z, z)
	code, r := e.report(port, "voip.test", "--no-probe")
	c := r.Checks[0]
	if code != exitCritical || !slices.Equal(codes(c.Findings), []string{"ns-unreachable", "ns-lame"}) {
		t.Fatalf("exit %d, findings:\n%s", code, findingsText(c.Findings))
	}
	if c.Servers[1].Error != "timeout" || c.Servers[2].Error == "" || len(c.Probes) != 0 {
		t.Errorf("servers %+v, %d probes with --no-probe", c.Servers, len(c.Probes))
	}
	// Only ns1's answers count: every record is on it.
	if len(c.Records) != 16 || !slices.Equal(c.Records[0].On, []string{"ns1.voip.test."}) {
		t.Errorf("%d records, the first on %v", len(c.Records), c.Records[0].On)
	}
}

func TestCheckNoResolver(t *testing.T) {
	e := newEnv(t)
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	start := time.Now()
	code, out, errs := e.run(port, "voip.test")
	if code != exitUnknown || !strings.Contains(errs, "resolver 127.0.60.1:") || !strings.Contains(out, "UNKNOWN") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v with a 1 s timeout", d)
	}
}

// The failures a live check finds, each from fakes that misbehave in one way.
func TestCheckFindings(t *testing.T) {
	expired := testpeer.NewCert(t, testpeer.CertSpec{Names: []string{"voip.test"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	wrongName := testpeer.NewCert(t, testpeer.CertSpec{Names: []string{"sip1.voip.test"}})
	ipv6 := true
	if l, err := net.Listen("tcp", "[::1]:0"); err != nil {
		ipv6 = false
	} else {
		l.Close()
	}
	for _, c := range []struct {
		name  string
		build func(e *env)
		args  []string
		code  int
		want  []string // codes that must be among the findings
		v6    bool
	}{
		{"hung targets", func(e *env) {
			e.service("_sip._tcp", []string{"sip1", "sip2"}, silent)
			e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
		}, nil, exitCritical, []string{"target-down", "service-down"}, false},
		{"one target 503", func(e *env) {
			e.service("_sip._udp", []string{"sip1"}, sipUDP("503 Service Unavailable"))
			e.service("_sip._udp", []string{"sip2"}, sipUDP("200 OK"))
			e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
		}, nil, exitWarning, []string{"target-down"}, false},
		{"an address of two down", func(e *env) {
			e.service("_sip._udp", []string{"sip1", "sip2"}, sipUDP("200 OK"))
			e.add("sip1 IN A 127.0.62.1") // nothing there
			e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
		}, nil, exitWarning, []string{"address-down"}, false},
		{"IPv6 published, dead", func(e *env) {
			e.service("_sip._tcp", []string{"sip1", "sip2"}, sipTCP("200 OK"))
			e.add("sip1 IN AAAA ::1") // the fake listens on IPv4 only
			e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
		}, nil, exitWarning, []string{"family-dead"}, true},
		{"IPv6 left out by -4", func(e *env) {
			e.service("_sip._tcp", []string{"sip1", "sip2"}, sipTCP("200 OK"))
			e.add("sip1 IN AAAA ::1")
			e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
		}, []string{"-4"}, exitOK, nil, false},
		{"expired certificate", func(e *env) {
			cfg := &tls.Config{Certificates: []tls.Certificate{expired.TLS}}
			e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", cfg))
		}, []string{"--ca", expired.CertFile}, exitCritical, []string{"cert-expired"}, false},
		{"certificate for the target, not the domain", func(e *env) {
			cfg := &tls.Config{Certificates: []tls.Certificate{wrongName.TLS}}
			e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", cfg))
		}, []string{"--ca", wrongName.CertFile}, exitCritical, []string{"cert-name"}, false},
		{"untrusted certificate", func(e *env) {
			e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
		}, []string{"--ca", expired.CertFile}, exitCritical, []string{"cert-untrusted"}, false},
		{"certificate expiring within --cert-days", func(e *env) {
			e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
		}, []string{"--cert-days", "45"}, exitWarning, []string{"cert-expiring"}, false},
		{"no STARTTLS", func(e *env) {
			e.service("_xmpp-client._tcp", []string{"xmpp1", "xmpp2"}, xmppStartTLS(startTLSNone, nil))
			e.service("_xmpp-server._tcp", []string{"xmpp1", "xmpp2"}, xmppStartTLS(startTLSOffered, e.tlsCfg))
		}, nil, exitCritical, []string{"starttls-missing", "starttls-optional"}, false},
		{"STARTTLS that fails", func(e *env) {
			noCert := &tls.Config{} // no certificate to offer
			e.service("_xmpp-client._tcp", []string{"xmpp1", "xmpp2"}, xmppStartTLS(startTLSRequired, noCert))
			e.service("_xmpp-server._tcp", []string{"xmpp1", "xmpp2"}, xmppStartTLS(startTLSRequired, e.tlsCfg))
		}, nil, exitCritical, []string{"starttls-failed"}, false},
		{"an XMPP server port for clients", func(e *env) {
			e.service("_xmpp-client._tcp", []string{"xmpp1", "xmpp2"}, xmppServerPort)
			e.service("_xmpp-server._tcp", []string{"xmpp1", "xmpp2"}, xmppStartTLS(startTLSRequired, e.tlsCfg))
		}, nil, exitCritical, []string{"target-down", "service-down"}, false},
		{"alias, ghost and doubled origin", func(e *env) {
			e.service("_sip._udp", []string{"sip1", "sip2"}, sipUDP("200 OK"))
			e.add("_sip._udp IN SRV 20 0 5060 alias", "alias IN CNAME sip1", "_sip._udp IN SRV 20 0 5060 ghost",
				"_sip._udp IN SRV 20 0 5060 sip1.voip.test.voip.test.")
			e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
		}, []string{"--no-probe"}, exitCritical, []string{"cname-target", "no-address", "doubled-origin"}, false},
		{"NAPTR to a name without SRV", func(e *env) {
			e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
			e.add(`@ IN NAPTR 10 10 "S" "SIPS+D2T" "" _sips._tcp.pbx.voip.test.`)
		}, nil, exitCritical, []string{"naptr-no-srv"}, false},
		{"nothing published", func(e *env) {}, nil, exitWarning, []string{"no-srv"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.v6 && !ipv6 {
				t.Skip("no IPv6 loopback")
			}
			e := newEnv(t)
			c.build(e)
			port := e.serve()
			code, r := e.report(port, append([]string{"voip.test"}, c.args...)...)
			got := codes(r.Checks[0].Findings)
			t.Logf("findings:\n%s", findingsText(r.Checks[0].Findings))
			for _, w := range c.want {
				if !slices.Contains(got, w) {
					t.Errorf("no %s", w)
				}
			}
			if code != c.code || t.Failed() {
				t.Fatalf("exit %d, want %d; findings:\n%s", code, c.code, findingsText(r.Checks[0].Findings))
			}
		})
	}
}

// A server given with --server (here a fake standing for a CoreDNS with srvhealth) left out a live
// target, kept a dead one, and serves a record the authoritative servers no longer have.
func TestCheckServed(t *testing.T) {
	e := newEnv(t)
	e.service("_sip._udp", []string{"sip1", "sip2"}, sipUDP("200 OK"))
	e.service("_sip._tcp", []string{"sip1"}, sipTCP("200 OK"))
	e.service("_sip._tcp", []string{"sip3"}, silent)
	e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
	auth := e.zone(1, 3)
	port := startNS(t, nil, auth, auth, auth)
	var servedLines []string
	for _, l := range strings.Split(auth, "\n") {
		if !(strings.HasPrefix(l, "_sip._udp") && strings.HasSuffix(l, " sip2")) {
			servedLines = append(servedLines, l)
		}
	}
	servedLines = append(servedLines, "_sips._tcp IN SRV 10 50 5061 old.voip.test.")
	given := startNS(t, nil, strings.Join(servedLines, "\n")) // 127.0.60.1, on a port of its own
	server := "127.0.60.1:" + strconv.Itoa(given)

	code, r := e.report(port, "voip.test", "--server", server)
	c := r.Checks[0]
	got := codes(c.Findings)
	for _, w := range []string{"server-dropped-up", "server-kept-down", "server-stale", "target-down"} {
		if !slices.Contains(got, w) {
			t.Errorf("no %s", w)
		}
	}
	if code != exitWarning || t.Failed() {
		t.Fatalf("exit %d, findings:\n%s", code, findingsText(c.Findings))
	}
	last := c.Servers[len(c.Servers)-1]
	if last.Role != "given" || last.Address != server || last.Error != "" {
		t.Errorf("given server %+v", last)
	}
	for _, rec := range c.Records {
		want := true
		if rec.Name == "_sip._udp.voip.test." && rec.SRV.Target == "sip2.voip.test." {
			want = false
		}
		if served, ok := rec.Served[server]; !ok || served != want {
			t.Errorf("%s %s: served %v (%v), want %v", rec.Name, rec.Data, served, ok, want)
		}
		if rec.SRV.Target == "old.voip.test." && len(rec.On) != 0 {
			t.Errorf("the stale record is on %v", rec.On)
		}
	}
	_, out, _ := e.run(port, "voip.test", "--server", server)
	if !strings.Contains(out, "SERVED BY "+server) || !regexpMatch(`sip2\.voip\.test\.\s+3/3\s+no`, out) {
		t.Errorf("the table does not show what the server left out:\n%s", out)
	}
}

// A target outside the zone that the resolver will not resolve is reported as unresolved, not as a
// target without an address, and is not probed.
func TestCheckUnresolvedTarget(t *testing.T) {
	e := newEnv(t)
	e.service("_sips._tcp", []string{"sip1"}, sipTLS("200 OK", e.tlsCfg))
	e.add("_sips._tcp IN SRV 10 50 5061 sip.example.net.")
	port := e.serve()
	code, r := e.report(port, "voip.test")
	c := r.Checks[0]
	var tr TargetReport
	for _, x := range c.Targets {
		if x.Name == "sip.example.net." {
			tr = x
		}
	}
	if tr.Error != "REFUSED" || slices.Contains(codes(c.Findings), "no-address") || len(c.Probes) != 1 {
		t.Errorf("exit %d, target %+v, %d probes, findings:\n%s", code, tr, len(c.Probes), findingsText(c.Findings))
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
