package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/probe"
)

// Every kind of the spec answers srvhealth's own probes the way bench/run counts on: the live kinds are
// up under the natural probe of their services, the dead ones down by timeout.
func TestKindsAgainstProbes(t *testing.T) {
	kinds := []string{"sip-udp", "sip-tcp", "sip-tls", "xmpp", "xmpp-tls", "tcp", "hung-tcp", "hung-udp", "blackhole"}
	var spec strings.Builder
	spec.WriteString("# every kind, on free ports\n\n")
	for _, k := range kinds {
		fmt.Fprintf(&spec, "%-10s 127.0.0.1:0  # %s\n", k, k)
	}
	servers, err := run(strings.NewReader(spec.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	if len(servers) != len(kinds) {
		t.Fatalf("%d servers for %d lines", len(servers), len(kinds))
	}
	sip := func(tr probe.Transport) probe.Method { return probe.Method{Kind: probe.KindSIP, Transport: tr} }
	tests := []struct {
		kind   string
		method probe.Method
		reason string // "" for up
	}{
		{"sip-udp", sip(probe.UDP), "sip 200 OK"},
		{"sip-tcp", sip(probe.TCP), "sip 200 OK"},
		{"sip-tls", sip(probe.TLS), "sip 200 OK"},
		{"xmpp", probe.Method{Kind: probe.KindXMPPClient, Transport: probe.TCP}, ""},
		{"xmpp", probe.Method{Kind: probe.KindXMPPServer, Transport: probe.TCP}, ""},
		{"xmpp-tls", probe.Method{Kind: probe.KindXMPPClient, Transport: probe.TLS}, ""},
		{"xmpp-tls", probe.Method{Kind: probe.KindXMPPServer, Transport: probe.TLS}, ""},
		{"tcp", probe.Method{Kind: probe.KindTCP, Transport: probe.TCP}, ""},
		{"hung-tcp", sip(probe.TCP), "timeout"},
		{"hung-tcp", probe.Method{Kind: probe.KindXMPPClient, Transport: probe.TCP}, "timeout"},
		{"hung-udp", sip(probe.UDP), "timeout"},
		{"blackhole", probe.Method{Kind: probe.KindTCP, Transport: probe.TCP}, "timeout"},
	}
	for _, tt := range tests {
		s := servers[slices.Index(kinds, tt.kind)]
		p, err := probe.New(tt.method, probe.Options{})
		if err != nil {
			t.Fatal(err)
		}
		timeout := 2 * time.Second
		if tt.reason == "timeout" {
			timeout = 300 * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		r := p.Probe(ctx, probe.Target{Addr: s.Addr(), Domain: "voip.test"})
		cancel()
		up := tt.reason != "timeout"
		if r.Up != up || (tt.reason != "" && r.Reason != tt.reason) {
			t.Errorf("%s under %v: got up=%v reason %q, want up=%v %q", tt.kind, tt.method, r.Up, r.Reason, up, tt.reason)
		}
	}

	// Direct TLS XMPP offers ALPN, and the certificate covers the benchmark's zones.
	c, err := tls.Dial("tcp", servers[slices.Index(kinds, "xmpp-tls")].Addr().String(),
		&tls.Config{InsecureSkipVerify: true, NextProtos: []string{"xmpp-server"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cs := c.ConnectionState()
	if cs.NegotiatedProtocol != "xmpp-server" {
		t.Errorf("ALPN %q, want xmpp-server", cs.NegotiatedProtocol)
	}
	for _, name := range []string{"voip.test", "sip1.voip.test", "h7.scale.test"} {
		if err := cs.PeerCertificates[0].VerifyHostname(name); err != nil {
			t.Error(err)
		}
	}
}

func TestBadSpecs(t *testing.T) {
	for _, spec := range []string{
		"sip-udp",
		"sip-udp 127.0.0.1:0 extra",
		"ftp 127.0.0.1:0",
		"tcp 127.0.0.1:0\ntcp not-an-address",
	} {
		if servers, err := run(strings.NewReader(spec)); err == nil {
			for _, s := range servers {
				s.Close()
			}
			t.Errorf("spec %q: no error", spec)
		}
	}
}
