package test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/internal/testpeer"
	"github.com/srvhealth/srvhealth/probe"
)

// The tests in this file run the probes against real servers started by internal/testpeer, two
// implementations of each protocol (Kamailio and baresip for SIP, Prosody and ejabberd for XMPP), so that
// a verdict rests on more than one server's reading of the RFCs. Each is skipped, naming the Debian
// package, where its server is not installed; CI installs them all.

// peerTimeout is generous: Prosody takes a few hundred milliseconds to answer a stream header.
const peerTimeout = 5 * time.Second

var (
	sipUDP        = probe.Method{Kind: probe.KindSIP, Transport: probe.UDP}
	sipTCP        = probe.Method{Kind: probe.KindSIP, Transport: probe.TCP}
	sipTLS        = probe.Method{Kind: probe.KindSIP, Transport: probe.TLS}
	tlsHandshake  = probe.Method{Kind: probe.KindTLS, Transport: probe.TLS}
	xmppClient    = probe.Method{Kind: probe.KindXMPPClient, Transport: probe.TCP}
	xmppServer    = probe.Method{Kind: probe.KindXMPPServer, Transport: probe.TCP}
	xmppClientTLS = probe.Method{Kind: probe.KindXMPPClient, Transport: probe.TLS}
	xmppServerTLS = probe.Method{Kind: probe.KindXMPPServer, Transport: probe.TLS}
)

// probeCase is one probe of a real server and the verdict it must reach.
type probeCase struct {
	name   string
	m      probe.Method
	target probe.Target
	up     bool
	reason string
}

// runProbes runs each case as a subtest, verifying certificates against cert's CA, and checks that every
// probe that got through a TLS handshake (direct, or XMPP STARTTLS) reports cert's expiry.
func runProbes(t *testing.T, cert *testpeer.Cert, cases []probeCase) {
	t.Helper()
	opts := probe.Options{TLSVerify: true, RootCAs: cert.Pool}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			r := probeOnce(t, tt.m, opts, tt.target)
			if r.Up != tt.up || r.Reason != tt.reason {
				t.Errorf("%v: got up=%v reason %q, want up=%v reason %q", tt.m, r.Up, r.Reason, tt.up, tt.reason)
			}
			// XMPP over TCP reaches its certificate through STARTTLS, which these servers offer.
			starttls := tt.up && tt.m.Transport == probe.TCP && (tt.m.Kind == probe.KindXMPPClient || tt.m.Kind == probe.KindXMPPServer)
			if (tt.m.Transport == probe.TLS || starttls) && !r.CertNotAfter.Equal(cert.Leaf.NotAfter) {
				t.Errorf("%v: CertNotAfter %v, want %v", tt.m, r.CertNotAfter, cert.Leaf.NotAfter)
			}
			t.Logf("%s: %v", tt.m, r.Duration)
		})
	}
}

// probeOnce probes target with a prober for m, bounded by peerTimeout as the monitor bounds it by its
// timeout.
func probeOnce(t *testing.T, m probe.Method, opts probe.Options, target probe.Target) probe.Result {
	t.Helper()
	p, err := probe.New(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), peerTimeout)
	defer cancel()
	return p.Probe(ctx, target)
}

func TestProbeKamailio(t *testing.T) {
	ok := testpeer.Kamailio(t, testpeer.KamailioConfig{Code: 200})
	busy := testpeer.Kamailio(t, testpeer.KamailioConfig{Code: 503})
	for _, tt := range []struct {
		name   string
		peer   *testpeer.KamailioPeer
		up     bool
		reason string
	}{
		{"200", ok, true, "sip 200 OK"},
		{"503", busy, false, "sip 503 Service Unavailable"},
	} {
		udptcp := probe.Target{Addr: tt.peer.UDPTCP, Domain: tt.peer.Domain}
		t.Run(tt.name, func(t *testing.T) {
			runProbes(t, tt.peer.Cert, []probeCase{
				{"udp", sipUDP, udptcp, tt.up, tt.reason},
				{"tcp", sipTCP, udptcp, tt.up, tt.reason},
				{"tls", sipTLS, probe.Target{Addr: tt.peer.TLS, Domain: tt.peer.Domain}, tt.up, tt.reason},
			})
		})
	}
	runProbes(t, ok.Cert, []probeCase{{"tls handshake", tlsHandshake, probe.Target{Addr: ok.TLS, Domain: ok.Domain}, true, ""}})
	t.Run("stopped", func(t *testing.T) {
		ok.Stop()
		stopped(t, ok.UDPTCP, ok.Domain)
	})
}

// baresip, a user agent rather than a proxy, answers an OPTIONS whose request URI names no account of
// its own (the probe's, sip:DOMAIN) with 404 Not Found, which DefaultSIPAccept counts as alive: the
// answer took a working SIP stack.
func TestProbeBaresip(t *testing.T) {
	b := testpeer.Baresip(t, testpeer.BaresipConfig{})
	udptcp := probe.Target{Addr: b.UDPTCP, Domain: b.Domain}
	tls := probe.Target{Addr: b.TLS, Domain: b.Domain}
	runProbes(t, b.Cert, []probeCase{
		{"udp", sipUDP, udptcp, true, "sip 404 Not Found"},
		{"tcp", sipTCP, udptcp, true, "sip 404 Not Found"},
		{"tls", sipTLS, tls, true, "sip 404 Not Found"},
		{"tls handshake", tlsHandshake, tls, true, ""},
	})
	t.Run("stopped", func(t *testing.T) {
		b.Stop()
		stopped(t, b.UDPTCP, b.Domain)
	})
}

// stopped checks that SIP over UDP and TCP to a server that is gone is down, refused.
func stopped(t *testing.T, addr netip.AddrPort, domain string) {
	t.Helper()
	for _, m := range []probe.Method{sipUDP, sipTCP} {
		r := probeOnce(t, m, probe.Options{}, probe.Target{Addr: addr, Domain: domain})
		if r.Up || r.Reason != "connection refused" {
			t.Errorf("%v: got up=%v reason %q, want connection refused", m, r.Up, r.Reason)
		}
	}
}

// xmppPorts are the listeners of an XMPP server under test; an invalid address is a listener it lacks.
type xmppPorts struct {
	c2s, s2s, c2sTLS, s2sTLS netip.AddrPort
}

// xmppCases are the verdicts every XMPP server must get for domain, the one host it serves.
func xmppCases(domain string, p xmppPorts) []probeCase {
	at := func(a netip.AddrPort, d string) probe.Target { return probe.Target{Addr: a, Domain: d} }
	cases := []probeCase{
		{"c2s", xmppClient, at(p.c2s, domain), true, ""},
		// The probe's s2s stream header has no 'from' (RFC 6120 section 4.7.1 makes it a SHOULD).
		{"s2s", xmppServer, at(p.s2s, domain), true, ""},
		{"c2s direct TLS", xmppClientTLS, at(p.c2sTLS, domain), true, ""},
		{"tls on direct TLS port", tlsHandshake, at(p.c2sTLS, domain), true, ""},
		{"c2s foreign domain", xmppClient, at(p.c2s, "other.test"), false, "stream error host-unknown"},
		{"s2s foreign domain", xmppServer, at(p.s2s, "other.test"), false, "stream error host-unknown"},
		{"c2s on s2s port", xmppClient, at(p.s2s, domain), false, "stream namespace jabber:server, want jabber:client"},
		{"s2s on c2s port", xmppServer, at(p.c2s, domain), false, "stream namespace jabber:client, want jabber:server"},
	}
	if p.s2sTLS.IsValid() {
		cases = append(cases,
			probeCase{"s2s direct TLS", xmppServerTLS, at(p.s2sTLS, domain), true, ""},
		)
	}
	return cases
}

func TestProbeProsody(t *testing.T) {
	p := testpeer.Prosody(t, testpeer.ProsodyConfig{Domain: "voip.test"})
	runProbes(t, p.Cert, xmppCases(p.Domain, xmppPorts{c2s: p.C2S, s2s: p.S2S, c2sTLS: p.DirectTLS, s2sTLS: p.S2SDirectTLS}))
}

func TestProbeEjabberd(t *testing.T) {
	e := testpeer.Ejabberd(t, testpeer.EjabberdConfig{Domain: "chat.test"})
	runProbes(t, e.Cert, xmppCases(e.Domain, xmppPorts{c2s: e.C2S, s2s: e.S2S, c2sTLS: e.DirectTLS, s2sTLS: e.S2SDirectTLS}))
}

// TestPeerDetails: what srvhealth check reports of real servers: Kamailio's Server header, Prosody's
// STARTTLS and the certificate behind it.
func TestPeerDetails(t *testing.T) {
	k := testpeer.Kamailio(t, testpeer.KamailioConfig{Code: 200})
	p := testpeer.Prosody(t, testpeer.ProsodyConfig{Domain: "voip.test"})
	opts := probe.Options{Details: true}

	r := probeOnce(t, sipUDP, opts, probe.Target{Addr: k.UDPTCP, Domain: k.Domain})
	if !r.Up || r.Details == nil || !strings.HasPrefix(r.Details.SIPServer, "kamailio") {
		t.Errorf("kamailio over UDP: up=%v reason %q details %+v, want a kamailio Server header", r.Up, r.Reason, r.Details)
	}
	r = probeOnce(t, sipTLS, opts, probe.Target{Addr: k.TLS, Domain: k.Domain})
	if !r.Up || r.Details == nil || r.Details.TLS == nil || !r.Details.TLS.Certificates[0].Equal(k.Cert.Leaf) {
		t.Errorf("kamailio over TLS: up=%v reason %q details %+v, want its certificate", r.Up, r.Reason, r.Details)
	}
	for _, m := range []probe.Method{xmppClient, xmppServer} {
		addr := p.C2S
		if m == xmppServer {
			addr = p.S2S
		}
		r := probeOnce(t, m, opts, probe.Target{Addr: addr, Domain: "voip.test"})
		if !r.Up || r.Details == nil {
			t.Fatalf("%v: up=%v reason %q", m, r.Up, r.Reason)
		}
		d := r.Details
		if d.StartTLS < probe.StartTLSOffered || d.StartTLSError != "" || d.TLS == nil || !d.TLS.Certificates[0].Equal(p.Cert.Leaf) {
			t.Errorf("%v: STARTTLS %v error %q TLS %+v, want it negotiated with Prosody's certificate", m, d.StartTLS, d.StartTLSError, d.TLS)
		}
	}
}
