package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/srvhealth/srvhealth/lint"
)

// check --corefile reads the drain lines of the srvhealth blocks and warns about a drained name that is
// not under the block's zones (the plugin never sees it in an answer it filters) or that no SRV record
// of the zone checked names, with that port: a typo the plugin accepts silently. Issue 24 item 10.
func TestCheckCorefileDrains(t *testing.T) {
	dir := t.TempDir()
	zone := filepath.Join(dir, "db.voip.test")
	os.WriteFile(zone, []byte(`$ORIGIN voip.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
sip1 IN A 192.0.2.1
sip2 IN A 192.0.2.2
_sip._udp IN SRV 10 50 5060 sip1
_sip._udp IN SRV 10 50 5060 sip2
_sips._tcp IN SRV 10 50 5061 sip1
_sips._tcp IN SRV 10 50 5061 sip2
`), 0o644)
	corefile := filepath.Join(dir, "Corefile")
	os.WriteFile(corefile, []byte(`voip.test:1053 {
    srvhealth {
        drain sip2.voip.test sip1.voip.test:5061
        drain sip3.voip.test:5060 sip1.example.org SIP2.voip.test:5070
    }
    file db.voip.test
    reload
}
other.test:1053 {
    srvhealth {
        drain sip9.other.test
    }
    file db.other.test
}
`), 0o644)
	var out, errb bytes.Buffer
	code := run([]string{"check", "--json", "--zone", zone, "--corefile", corefile}, &out, &errb)
	var r Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s %s", err, out.String(), errb.String())
	}
	var got []string
	for _, c := range r.Checks {
		for _, f := range c.Findings {
			if strings.HasPrefix(f.Code, "drain-") {
				got = append(got, f.Code+" "+f.Name+" "+f.Message[:strings.Index(f.Message, ": ")])
			}
		}
	}
	slices.Sort(got)
	want := []string{
		"drain-outside sip1.example.org. drain sip1.example.org",
		"drain-unseen sip2.voip.test. drain sip2.voip.test:5070",
		"drain-unseen sip3.voip.test. drain sip3.voip.test:5060",
	}
	if !slices.Equal(got, want) || code != exitWarning {
		t.Errorf("exit %d, drain findings:\n%s\nwant:\n%s\nstderr: %s", code, strings.Join(got, "\n"), strings.Join(want, "\n"), errb.String())
	}
	// The line of the drain is in the finding, for the editor.
	for _, c := range r.Checks {
		for _, f := range c.Findings {
			if f.Code == lint.CodeDrainOutside && f.Line != 4 {
				t.Errorf("drain-outside on line %d, want 4", f.Line)
			}
		}
	}
}

// check verifies certificates (a finding, not a dead target) while the plugin verifies them only with
// tls_verify: the finding says so where the user meets the difference first. Issue 24 item 10.
func TestCheckCertFindingSaysPluginDefault(t *testing.T) {
	e := newEnv(t)
	e.service("_sips._tcp", []string{"sip1", "sip2"}, sipTLS("200 OK", e.tlsCfg))
	port := e.serve()
	other := testpeerOtherCA(t)
	_, r := e.report(port, "voip.test", "--ca", other)
	n := 0
	for _, f := range r.Checks[0].Findings {
		if f.Code == lint.CodeCertUntrusted {
			n++
			if !strings.Contains(f.Message, "tls_verify") {
				t.Errorf("%s does not say the plugin verifies only with tls_verify", f)
			}
		}
	}
	if n == 0 {
		t.Fatalf("no cert-untrusted: %s", findingsText(r.Checks[0].Findings))
	}
	var out, errb bytes.Buffer
	run([]string{"check", "-h"}, &out, &errb)
	if !strings.Contains(errb.String(), "tls_verify") {
		t.Errorf("check -h does not say how its verification differs from the plugin's:\n%s", errb.String())
	}
}

// testpeerOtherCA is a CA file of a CA that signed none of the fakes' certificates.
func testpeerOtherCA(t *testing.T) string {
	return newEnv(t).caFile
}
