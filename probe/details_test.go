package probe

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/internal/fakepeer"
	"github.com/srvhealth/srvhealth/internal/testpeer"
)

// The tests in this file cover Options.Details: what srvhealth check reports beyond up or down.

func TestDetailsOffByDefault(t *testing.T) {
	cert := testpeer.NewCert(t, testpeer.CertSpec{Names: []string{"voip.test"}})
	tlsAddr := fakepeer.TLS(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS}}, nil)
	sipAddr := sipFake(t, sipUDP, fakepeer.Answer("200 OK", "Server: FakeSIP/1.0"))
	xmppAddr := fakepeer.TCP(t, xmppFake(nil, serverHeader+features))
	for _, c := range []struct {
		m    Method
		addr Target
	}{
		{tlsMethod, Target{Addr: tlsAddr, Domain: "voip.test"}},
		{sipUDP, Target{Addr: sipAddr, Domain: "voip.test"}},
		{xmppClient, Target{Addr: xmppAddr, Domain: "voip.test"}},
	} {
		r := mustNew(t, c.m, Options{}).Probe(probeCtx(t, 2*time.Second), c.addr)
		if !r.Up || r.Details != nil {
			t.Errorf("%v: up=%v reason %q details %+v, want up and no details", c.m, r.Up, r.Reason, r.Details)
		}
	}
}

func TestDetailsSIPServer(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status string
		extra  []string
		want   string
	}{
		{"Server", "200 OK", []string{"Server: FakeSIP/1.0", "User-Agent: ignored"}, "FakeSIP/1.0"},
		{"User-Agent only", "200 OK", []string{"User-Agent: Phone 2"}, "Phone 2"},
		{"neither", "200 OK", nil, ""},
		{"failing code", "503 Service Unavailable", []string{"Server: Busy/3"}, "Busy/3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := sipFake(t, sipTCP, fakepeer.Answer(tt.status, tt.extra...))
			r := mustNew(t, sipTCP, Options{Details: true}).Probe(probeCtx(t, 2*time.Second), Target{Addr: addr, Domain: "voip.test"})
			if r.Details == nil || r.Details.SIPServer != tt.want {
				t.Fatalf("details %+v (reason %q), want SIPServer %q", r.Details, r.Reason, tt.want)
			}
			if r.Details.TLS != nil {
				t.Errorf("TLS state %+v over TCP", r.Details.TLS)
			}
		})
	}
}

func TestDetailsTLS(t *testing.T) {
	cert := testpeer.NewCert(t, testpeer.CertSpec{Names: []string{"voip.test"}})
	cfg := &tls.Config{Certificates: []tls.Certificate{cert.TLS}, NextProtos: []string{"xmpp-client"}}
	addr := fakepeer.TLS(t, cfg, xmppFake(nil, serverHeader+features))
	for _, tt := range []struct {
		m    Method
		alpn string
	}{
		{tlsMethod, ""},
		{Method{KindXMPPClient, TLS}, "xmpp-client"},
	} {
		r := mustNew(t, tt.m, Options{Details: true}).Probe(probeCtx(t, 2*time.Second), Target{Addr: addr, Domain: "voip.test"})
		if !r.Up || r.Details == nil || r.Details.TLS == nil {
			t.Fatalf("%v: up=%v reason %q details %+v", tt.m, r.Up, r.Reason, r.Details)
		}
		s := r.Details.TLS
		if len(s.Certificates) != 2 || !s.Certificates[0].Equal(cert.Leaf) {
			t.Errorf("%v: got %d certificates, want the leaf and its CA", tt.m, len(s.Certificates))
		}
		if s.Version != tls.VersionTLS13 || s.ALPN != tt.alpn {
			t.Errorf("%v: version %x ALPN %q, want TLS 1.3 and %q", tt.m, s.Version, s.ALPN, tt.alpn)
		}
	}

	// A certificate that fails verification is still handed back, for the report to say why.
	r := mustNew(t, tlsMethod, Options{Details: true, TLSVerify: true}).Probe(probeCtx(t, 2*time.Second), Target{Addr: addr, Domain: "voip.test"})
	if r.Up || r.Details == nil || r.Details.TLS == nil || len(r.Details.TLS.Certificates) == 0 || r.Details.TLS.Version != 0 {
		t.Errorf("unverifiable: up=%v reason %q details %+v, want down with the chain and no version", r.Up, r.Reason, r.Details)
	}
}

func TestDetailsXMPPStartTLS(t *testing.T) {
	cert := testpeer.NewCert(t, testpeer.CertSpec{Names: []string{"voip.test"}})
	cfg := &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	const (
		offered  = `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`
		none     = `<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`
		required = features
		// <required/> outside <starttls> says nothing about STARTTLS.
		stray = `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><other><required/></other></stream:features>`
	)
	for _, tt := range []struct {
		name, feats, after string
		want               StartTLS
		tls                bool
		err                string
	}{
		{"required", required, fakepeer.Proceed, StartTLSRequired, true, ""},
		{"offered", offered, fakepeer.Proceed, StartTLSOffered, true, ""},
		{"stray required", stray, fakepeer.Proceed, StartTLSOffered, true, ""},
		{"none", none, "", StartTLSNone, false, ""},
		{"failure", required, `<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>`, StartTLSRequired, false, "starttls failure"},
		{"stream error", required, `<stream:error><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`, StartTLSRequired, false, "stream error internal-server-error"},
		{"no answer", required, "", StartTLSRequired, false, "timeout"},
		{"hang-up", offered, "</stream:stream>", StartTLSOffered, false, "connection closed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := fakepeer.TCP(t, fakepeer.XMPPStartTLS(tt.feats, tt.after, cfg))
			timeout := 2 * time.Second
			if tt.err == "timeout" {
				timeout = 300 * time.Millisecond
			}
			r := mustNew(t, xmppClient, Options{Details: true}).Probe(probeCtx(t, timeout), Target{Addr: addr, Domain: "voip.test"})
			if !r.Up {
				t.Fatalf("down: %s; STARTTLS must not change the verdict", r.Reason)
			}
			d := r.Details
			if d == nil || d.StartTLS != tt.want || d.StartTLSError != tt.err || (d.TLS != nil) != tt.tls {
				t.Fatalf("details %+v, want StartTLS %v error %q TLS %v", d, tt.want, tt.err, tt.tls)
			}
			if tt.tls && !d.TLS.Certificates[0].Equal(cert.Leaf) {
				t.Errorf("STARTTLS certificate is not the server's")
			}
		})
	}
}

func TestStartTLSString(t *testing.T) {
	for s, want := range map[StartTLS]string{StartTLSUnknown: "", StartTLSNone: "none", StartTLSOffered: "offered", StartTLSRequired: "required"} {
		if s.String() != want {
			t.Errorf("%d: %q, want %q", s, s.String(), want)
		}
	}
}
