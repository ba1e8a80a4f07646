package main

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/probe"
)

// A certificate's names are the server's text, like a SIP reason phrase: the report (and the terminal
// that shows the table) gets them printable and bounded, as probe.PeerText makes them.
func TestProbeReportCertText(t *testing.T) {
	long := strings.Repeat("a", 500) + ".voip.test"
	leaf := &x509.Certificate{
		Subject:  pkix.Name{CommonName: "voip.test\x1b]0;owned\x07"},
		Issuer:   pkix.Name{CommonName: "CA\r\nX-Injected: 1"},
		DNSNames: []string{"voip.test", "x\x1b[2Jy", long},
		NotAfter: time.Now().Add(24 * time.Hour),
	}
	j := probeJob{owner: "_sips._tcp.voip.test.", method: probe.Method{Kind: probe.KindTLS, Transport: probe.TLS},
		target: "sip1.voip.test.", port: 5061, addr: netip.MustParseAddr("127.0.0.1")}
	r := probe.Result{Up: true, Details: &probe.Details{TLS: &probe.TLSState{Certificates: []*x509.Certificate{leaf}}}}
	p := probeReport(j, r, time.Now())
	if p.TLS == nil {
		t.Fatal("no TLS report")
	}
	if p.TLS.Subject != "voip.test?]0;owned?" || p.TLS.Issuer != "CA??X-Injected: 1" {
		t.Errorf("subject %q, issuer %q", p.TLS.Subject, p.TLS.Issuer)
	}
	if len(p.TLS.Names) != 3 || p.TLS.Names[0] != "voip.test" || p.TLS.Names[1] != "x?[2Jy" || p.TLS.Names[2] != probe.PeerText(long) {
		t.Errorf("names %q", p.TLS.Names)
	}
}
