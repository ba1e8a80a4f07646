package probe

import (
	"strings"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/internal/testpeer"
)

// The tests in this file probe real servers (Kamailio, Prosody) started by internal/testpeer. They are
// skipped where those are not installed; CI installs them.

// peerTimeout is generous: Prosody takes a few hundred milliseconds to answer a stream header.
const peerTimeout = 5 * time.Second

func TestKamailio(t *testing.T) {
	ok := testpeer.Kamailio(t, testpeer.KamailioConfig{Code: 200})
	busy := testpeer.Kamailio(t, testpeer.KamailioConfig{Code: 503})
	opts := Options{TLSVerify: true, RootCAs: ok.Cert.Pool}
	for _, tt := range []struct {
		name   string
		peer   *testpeer.KamailioPeer
		up     bool
		reason string
	}{
		{"200", ok, true, "sip 200 OK"},
		{"503", busy, false, "sip 503 Service Unavailable"},
	} {
		for _, m := range []Method{sipUDP, sipTCP, sipTLS} {
			t.Run(tt.name+"/"+m.String(), func(t *testing.T) {
				addr := tt.peer.UDPTCP
				o := Options{}
				if m.Transport == TLS {
					addr, o = tt.peer.TLS, Options{TLSVerify: true, RootCAs: tt.peer.Cert.Pool}
				}
				r := mustNew(t, m, o).Probe(probeCtx(t, peerTimeout), Target{Addr: addr, Domain: tt.peer.Domain})
				if r.Up != tt.up || r.Reason != tt.reason {
					t.Errorf("got up=%v reason %q, want up=%v reason %q", r.Up, r.Reason, tt.up, tt.reason)
				}
				if m.Transport == TLS && !r.CertNotAfter.Equal(tt.peer.Cert.Leaf.NotAfter) {
					t.Errorf("CertNotAfter %v, want %v", r.CertNotAfter, tt.peer.Cert.Leaf.NotAfter)
				}
				t.Logf("%s: %v", m, r.Duration)
			})
		}
	}
	t.Run("tls", func(t *testing.T) {
		r := mustNew(t, tlsMethod, opts).Probe(probeCtx(t, peerTimeout), Target{Addr: ok.TLS, Domain: ok.Domain})
		if !r.Up {
			t.Errorf("down: %s", r.Reason)
		}
	})
	t.Run("stopped", func(t *testing.T) {
		ok.Stop()
		for _, m := range []Method{sipUDP, sipTCP} {
			r := mustNew(t, m, Options{}).Probe(probeCtx(t, peerTimeout), Target{Addr: ok.UDPTCP, Domain: ok.Domain})
			if r.Up || r.Reason != "connection refused" {
				t.Errorf("%v: got up=%v reason %q, want connection refused", m, r.Up, r.Reason)
			}
		}
	})
}

func TestProsody(t *testing.T) {
	p := testpeer.Prosody(t, testpeer.ProsodyConfig{Domain: "voip.test"})
	opts := Options{TLSVerify: true, RootCAs: p.Cert.Pool}
	for _, tt := range []struct {
		name   string
		m      Method
		target Target
		up     bool
		reason string
	}{
		{"c2s", xmppClient, Target{Addr: p.C2S, Domain: "voip.test"}, true, ""},
		{"s2s", xmppServer, Target{Addr: p.S2S, Domain: "voip.test"}, true, ""},
		{"c2s direct TLS", Method{KindXMPPClient, TLS}, Target{Addr: p.DirectTLS, Domain: "voip.test"}, true, ""},
		{"s2s direct TLS", Method{KindXMPPServer, TLS}, Target{Addr: p.S2SDirectTLS, Domain: "voip.test"}, true, ""},
		{"tls on direct TLS port", tlsMethod, Target{Addr: p.DirectTLS, Domain: "voip.test"}, true, ""},
		{"c2s wrong domain", xmppClient, Target{Addr: p.C2S, Domain: "other.test"}, false, "stream error host-unknown"},
		{"s2s wrong domain", xmppServer, Target{Addr: p.S2S, Domain: "other.test"}, false, "stream error host-unknown"},
		{"c2s on s2s port", xmppClient, Target{Addr: p.S2S, Domain: "voip.test"}, false, "stream namespace jabber:server, want jabber:client"},
		{"s2s on c2s port", xmppServer, Target{Addr: p.C2S, Domain: "voip.test"}, false, "stream namespace jabber:client, want jabber:server"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, tt.m, opts).Probe(probeCtx(t, peerTimeout), tt.target)
			if r.Up != tt.up || r.Reason != tt.reason {
				t.Errorf("got up=%v reason %q, want up=%v reason %q", r.Up, r.Reason, tt.up, tt.reason)
			}
			if tt.m.Transport == TLS && !r.CertNotAfter.Equal(p.Cert.Leaf.NotAfter) {
				t.Errorf("CertNotAfter %v, want %v", r.CertNotAfter, p.Cert.Leaf.NotAfter)
			}
			t.Logf("%s: %v", tt.m, r.Duration)
		})
	}
}

// What srvhealth check reports of real servers: Kamailio's Server header, Prosody's STARTTLS and the
// certificate behind it.
func TestPeerDetails(t *testing.T) {
	k := testpeer.Kamailio(t, testpeer.KamailioConfig{Code: 200})
	p := testpeer.Prosody(t, testpeer.ProsodyConfig{Domain: "voip.test"})
	opts := Options{Details: true}

	r := mustNew(t, sipUDP, opts).Probe(probeCtx(t, peerTimeout), Target{Addr: k.UDPTCP, Domain: k.Domain})
	if !r.Up || r.Details == nil || !strings.HasPrefix(r.Details.SIPServer, "kamailio") {
		t.Errorf("kamailio over UDP: up=%v reason %q details %+v, want a kamailio Server header", r.Up, r.Reason, r.Details)
	}
	r = mustNew(t, sipTLS, opts).Probe(probeCtx(t, peerTimeout), Target{Addr: k.TLS, Domain: k.Domain})
	if !r.Up || r.Details == nil || r.Details.TLS == nil || !r.Details.TLS.Certificates[0].Equal(k.Cert.Leaf) {
		t.Errorf("kamailio over TLS: up=%v reason %q details %+v, want its certificate", r.Up, r.Reason, r.Details)
	}

	for _, m := range []Method{xmppClient, xmppServer} {
		addr := p.C2S
		if m == xmppServer {
			addr = p.S2S
		}
		r := mustNew(t, m, opts).Probe(probeCtx(t, peerTimeout), Target{Addr: addr, Domain: "voip.test"})
		if !r.Up || r.Details == nil {
			t.Fatalf("%v: up=%v reason %q", m, r.Up, r.Reason)
		}
		d := r.Details
		if d.StartTLS < StartTLSOffered || d.StartTLSError != "" || d.TLS == nil || !d.TLS.Certificates[0].Equal(p.Cert.Leaf) {
			t.Errorf("%v: STARTTLS %v error %q TLS %+v, want it negotiated with Prosody's certificate", m, d.StartTLS, d.StartTLSError, d.TLS)
		}
		t.Logf("%v: STARTTLS %v, %v", m, d.StartTLS, r.Duration)
	}
}
