package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/internal/testpeer"
)

// The tests in this file run the srvhealth command, the binary, against real servers: CoreDNS
// authoritative for voip.test on 127.0.40.1-3 (one port, the bind plugin), one of them serving an older
// copy of the zone; a CoreDNS with srvhealth in its chain, asked with --server; Kamailio and Prosody
// behind every service.

// checkReport is the part of srvhealth check --json these tests read.
type checkReport struct {
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`
	Checks   []struct {
		Zone    string `json:"zone"`
		Error   string `json:"error"`
		Servers []struct {
			Name, Address, Role string
			Serial              uint32
		} `json:"servers"`
		Records []struct {
			Name      string          `json:"name"`
			Data      string          `json:"data"`
			On        []string        `json:"on"`
			MissingOn []string        `json:"missing_on"`
			Served    map[string]bool `json:"served"`
		} `json:"records"`
		Probes []struct {
			Service, Target, Address, Method, Reason string
			Up                                       bool
			SIPServer                                string `json:"sip_server"`
			StartTLS                                 string `json:"starttls"`
			TLS                                      *struct {
				Names    []string `json:"names"`
				DaysLeft int      `json:"days_left"`
			} `json:"tls"`
		} `json:"probes"`
		Findings []struct {
			Code, Severity, Name, Target, Message string
		} `json:"findings"`
	} `json:"checks"`
}

func (r *checkReport) codes() []string {
	var out []string
	for _, f := range r.Checks[0].Findings {
		out = append(out, f.Code)
	}
	return out
}

func (r *checkReport) findings() string {
	var b strings.Builder
	for _, f := range r.Checks[0].Findings {
		fmt.Fprintf(&b, "  %s %s %s %s: %s\n", f.Severity, f.Code, f.Name, f.Target, f.Message)
	}
	return b.String()
}

func decodeReport(t *testing.T, out string) *checkReport {
	t.Helper()
	var r checkReport
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Checks) != 1 {
		t.Fatalf("report: %v\n%s", err, out)
	}
	return &r
}

// voipZone is voip.test as its authoritative servers serve it: the eight SIP and XMPP services, each
// with three targets (three names for the same Kamailio or Prosody). withSIP3 adds the third target of
// _sip._udp: the update the stale server has not seen.
func voipZone(serial int, k *testpeer.KamailioPeer, p *testpeer.ProsodyPeer, withSIP3 bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN voip.test.\n$TTL 300\n@ IN SOA ns1 hostmaster %d 7200 3600 1209600 300\n", serial)
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "@ IN NS ns%d\nns%d IN A 127.0.40.%d\n", i, i, i)
		fmt.Fprintf(&b, "sip%d IN A %s\nxmpp%d IN A %s\n", i, k.UDPTCP.Addr(), i, p.C2S.Addr())
	}
	for _, s := range []struct {
		label, host string
		port        uint16
	}{
		{"_sip._udp", "sip", k.UDPTCP.Port()},
		{"_sip._tcp", "sip", k.UDPTCP.Port()},
		{"_sip._tls", "sip", k.TLS.Port()},
		{"_sips._tcp", "sip", k.TLS.Port()},
		{"_xmpp-client._tcp", "xmpp", p.C2S.Port()},
		{"_xmpp-server._tcp", "xmpp", p.S2S.Port()},
		{"_xmpps-client._tcp", "xmpp", p.DirectTLS.Port()},
		{"_xmpps-server._tcp", "xmpp", p.S2SDirectTLS.Port()},
	} {
		for i := 1; i <= 3; i++ {
			if s.label == "_sip._udp" && i == 3 && !withSIP3 {
				continue
			}
			fmt.Fprintf(&b, "%s IN SRV 10 %d %d %s%d\n", s.label, 10*i, s.port, s.host, i)
		}
	}
	return b.String()
}

// caFile trusts the certificates of the peers (each file holds a leaf and its CA).
func caFile(t *testing.T, certs ...*testpeer.Cert) string {
	var pem []byte
	for _, c := range certs {
		b, err := os.ReadFile(c.CertFile)
		if err != nil {
			t.Fatal(err)
		}
		pem = append(pem, b...)
	}
	return WriteFile(t, "ca.pem", string(pem))
}

func soaSerial(t *testing.T, addr string) uint32 {
	m := new(dns.Msg)
	m.SetQuestion("voip.test.", dns.TypeSOA)
	r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, addr)
	if err != nil || len(r.Answer) == 0 {
		return 0
	}
	return r.Answer[0].(*dns.SOA).Serial
}

func TestCheck(t *testing.T) {
	k := testpeer.Kamailio(t, testpeer.KamailioConfig{})
	p := testpeer.Prosody(t, testpeer.ProsodyConfig{})
	srvhealth := Srvhealth(t)
	ca := caFile(t, k.Cert, p.Cert)
	dir := t.TempDir()
	fresh, ns3 := filepath.Join(dir, "db.voip.test"), filepath.Join(dir, "db.ns3")
	os.WriteFile(fresh, []byte(voipZone(2, k, p, true)), 0o644)
	os.WriteFile(ns3, []byte(voipZone(1, k, p, false)), 0o644)
	port := FreePort(t)
	CoreDNS(t, fmt.Sprintf(`voip.test:%[1]s {
    bind 127.0.40.1
    file %[2]s
}
voip.test:%[1]s {
    bind 127.0.40.2
    file %[2]s
}
voip.test:%[1]s {
    bind 127.0.40.3
    file %[3]s {
        reload 100ms
    }
}
`, port, fresh, ns3))
	check := func(args ...string) (string, string, int, time.Duration) {
		start := time.Now()
		out, errs, code := srvhealth(append([]string{"check", "--resolver", "127.0.40.1:" + port, "--port", port, "--ca", ca}, args...)...)
		return out, errs, code, time.Since(start)
	}

	t.Run("stale server", func(t *testing.T) {
		out, errs, code, took := check("--json", "voip.test")
		r := decodeReport(t, out)
		if code != 1 || r.Status != "warning" || !slices.Equal(r.codes(), []string{"ns-disagree"}) {
			t.Fatalf("exit %d, stderr %s, findings:\n%s", code, errs, r.findings())
		}
		c := r.Checks[0]
		if f := c.Findings[0]; f.Name != "_sip._udp.voip.test." || !strings.Contains(f.Message, "ns3.voip.test. 1") {
			t.Errorf("finding %+v", f)
		}
		var serials []uint32
		for _, s := range c.Servers {
			serials = append(serials, s.Serial)
		}
		if !slices.Equal(serials, []uint32{2, 2, 1}) || c.Zone != "voip.test." {
			t.Errorf("zone %s, serials %v", c.Zone, serials)
		}
		if len(c.Records) != 24 || len(c.Probes) != 24 {
			t.Fatalf("%d records and %d probes, want 24 and 24", len(c.Records), len(c.Probes))
		}
		methods := map[string]int{}
		for _, pr := range c.Probes {
			methods[pr.Method]++
			if !pr.Up {
				t.Errorf("%s %s %s down: %s", pr.Service, pr.Target, pr.Address, pr.Reason)
			}
			switch {
			case strings.HasPrefix(pr.Method, "sip") && !strings.HasPrefix(pr.SIPServer, "kamailio"):
				t.Errorf("%s: SIP server %q, want Kamailio's", pr.Service, pr.SIPServer)
			case pr.Method == "xmpp-client" || pr.Method == "xmpp-server":
				if pr.StartTLS != "required" {
					t.Errorf("%s: STARTTLS %q, want Prosody's required", pr.Service, pr.StartTLS)
				}
				fallthrough
			case strings.HasSuffix(pr.Method, "-tls"):
				if pr.TLS == nil || !slices.Equal(pr.TLS.Names, []string{"voip.test"}) || pr.TLS.DaysLeft < 28 {
					t.Errorf("%s %s: certificate %+v", pr.Service, pr.Method, pr.TLS)
				}
			}
		}
		if len(methods) != 7 || methods["sip-tls"] != 6 {
			t.Errorf("probes by method %v, want the 7 methods, sip-tls for _sip._tls and _sips._tcp", methods)
		}
		t.Logf("8 services x 3 targets (one service short of one on ns3), all answering: %v", took)

		out, _, _, _ = check("voip.test")
		for _, want := range []string{"_sip._udp.voip.test. 300 IN SRV 10 30 ", "2/3 (not on ns3.voip.test.)", "starttls required",
			"ns-disagree", "WARNING: 0 errors, 1 warning, 0 info"} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in the table:\n%s", want, out)
			}
		}
	})

	t.Run("all up to date", func(t *testing.T) {
		// ns3 gets the update; a newer serial is what makes the file plugin reload.
		os.WriteFile(ns3, []byte(voipZone(3, k, p, true)), 0o644)
		if !Eventually(5*time.Second, func() bool { return soaSerial(t, "127.0.40.3:"+port) == 3 }) {
			t.Fatal("ns3 did not load the new zone")
		}
		out, errs, code, took := check("voip.test")
		if code != 0 || !strings.Contains(out, "no findings") || !strings.HasSuffix(out, "OK: 0 errors, 0 warnings, 0 info\n") {
			t.Fatalf("exit %d, stderr %s:\n%s", code, errs, out)
		}
		t.Logf("8 services x 3 targets, all answering, three servers agreeing: %v", took)
		if took > 2*time.Second {
			t.Errorf("took %v, want under 2 s", took)
		}
	})

	t.Run("SIP answers 503", func(t *testing.T) {
		k.SetCode(503)
		defer k.SetCode(200)
		out, _, code, _ := check("--json", "voip.test")
		r := decodeReport(t, out)
		down := 0
		for _, f := range r.Checks[0].Findings {
			if f.Code == "service-down" {
				down++
				if !strings.HasPrefix(f.Name, "_sip") {
					t.Errorf("%s down", f.Name)
				}
			}
		}
		if code != 2 || r.Status != "critical" || down != 4 {
			t.Fatalf("exit %d, %d services down, want 2 and the 4 SIP services; findings:\n%s", code, down, r.findings())
		}
	})

	t.Run("every server hung", func(t *testing.T) {
		k.Freeze()
		p.Freeze()
		defer k.Thaw()
		defer p.Thaw()
		out, _, code, took := check("--json", "--timeout", "1s", "voip.test")
		r := decodeReport(t, out)
		down := 0
		for _, f := range r.Checks[0].Findings {
			if f.Code == "service-down" {
				down++
			}
		}
		if code != 2 || down != 8 {
			t.Errorf("exit %d, %d services down; findings:\n%s", code, down, r.findings())
		}
		t.Logf("24 hung targets, --timeout 1s: %v", took)
		if took > 2*time.Second {
			t.Errorf("took %v, want at most --timeout plus 1 s", took)
		}
	})

	t.Run("no resolver", func(t *testing.T) {
		dead := FreePort(t)
		out, errs, code := srvhealth("check", "--resolver", "127.0.40.1:"+dead, "voip.test")
		if code != 3 || !strings.Contains(errs, "resolver 127.0.40.1:"+dead) || !strings.Contains(out, "UNKNOWN") {
			t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
		}
	})
}

// A CoreDNS with srvhealth, asked with --server, leaves out the dead target and keeps the live one;
// the check shows both, and finds nothing to say about the server's choice.
func TestCheckServer(t *testing.T) {
	k := testpeer.Kamailio(t, testpeer.KamailioConfig{})
	srvhealth := Srvhealth(t)
	zone := fmt.Sprintf(`$ORIGIN voip.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ IN NS ns1
ns1 IN A 127.0.40.1
sip1 IN A %[1]s
sip2 IN A %[1]s
dead IN A 127.0.30.99
_sip._udp IN SRV 10 50 %[2]d sip1
_sip._udp IN SRV 10 50 %[2]d dead
_sips._tcp IN SRV 10 50 %[3]d sip1
_sips._tcp IN SRV 10 50 %[3]d sip2
`, k.UDPTCP.Addr(), k.UDPTCP.Port(), k.TLS.Port())
	db := WriteFile(t, "db.voip.test", zone)
	auth, front := FreePort(t), FreePort(t)
	CoreDNS(t, fmt.Sprintf(`voip.test:%[1]s {
    bind 127.0.40.1
    file %[3]s
}
voip.test:%[2]s {
    bind 127.0.0.1
    srvhealth {
        interval 1s
        timeout 500ms
        fails 1
        warm _sip._udp.voip.test
    }
    file %[3]s
}
`, auth, front, db))
	server := "127.0.0.1:" + front
	if !Eventually(10*time.Second, func() bool {
		return slices.Equal(SRVTargets(Exchange(t, "udp", server, "_sip._udp.voip.test.", dns.TypeSRV)), []string{"sip1.voip.test."})
	}) {
		t.Fatal("srvhealth never dropped the dead target")
	}

	out, errs, code := srvhealth("check", "--json", "--resolver", "127.0.40.1:"+auth, "--port", auth, "--ca", caFile(t, k.Cert), "--server", server, "voip.test")
	r := decodeReport(t, out)
	got := r.codes()
	if code != 1 || !slices.Contains(got, "target-down") || slices.ContainsFunc(got, func(c string) bool { return strings.HasPrefix(c, "server-") }) {
		t.Fatalf("exit %d, stderr %s, findings:\n%s", code, errs, r.findings())
	}
	for _, rec := range r.Checks[0].Records {
		want := !strings.HasSuffix(rec.Data, " dead.voip.test.")
		if served, ok := rec.Served[server]; !ok || served != want {
			t.Errorf("%s %s: served by %s %v (%v), want %v", rec.Name, rec.Data, server, served, ok, want)
		}
	}
	table, _, _ := srvhealth("check", "--resolver", "127.0.40.1:"+auth, "--port", auth, "--ca", caFile(t, k.Cert), "--server", server, "voip.test")
	if !strings.Contains(table, "SERVED BY "+server) {
		t.Errorf("no SERVED BY column:\n%s", table)
	}
	t.Logf("\n%s", table)
}
