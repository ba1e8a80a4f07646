package probe

import (
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/internal/fakepeer"
	"github.com/srvhealth/srvhealth/internal/testpeer"
)

var tlsMethod = Method{Kind: KindTLS, Transport: TLS}

func TestTLSCertificates(t *testing.T) {
	now := time.Now()
	good := testpeer.NewCert(t, testpeer.CertSpec{Names: []string{"voip.test"}})
	expired := testpeer.NewCert(t, testpeer.CertSpec{Names: []string{"voip.test"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	wrongName := testpeer.NewCert(t, testpeer.CertSpec{Names: []string{"other.test"}})
	tests := []struct {
		name   string
		cert   *testpeer.Cert
		verify bool
		roots  bool // verify against the cert's own CA rather than the system pool
		up     bool
		reason string
	}{
		{name: "good, not verified", cert: good, up: true},
		{name: "good, verified", cert: good, verify: true, roots: true, up: true},
		{name: "expired, not verified", cert: expired, up: true},
		{name: "expired, verified", cert: expired, verify: true, roots: true, reason: "certificate expired or not yet valid"},
		{name: "wrong name, not verified", cert: wrongName, up: true},
		{name: "wrong name, verified", cert: wrongName, verify: true, roots: true, reason: "certificate name mismatch"},
		{name: "unknown CA, verified", cert: good, verify: true, reason: "certificate signed by unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sni := make(chan string, 1)
			cfg := &tls.Config{
				Certificates: []tls.Certificate{tt.cert.TLS},
				GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
					sni <- hi.ServerName
					return nil, nil
				},
			}
			addr := fakepeer.TLS(t, cfg, nil) // hang up after the handshake
			opts := Options{TLSVerify: tt.verify}
			if tt.roots {
				opts.RootCAs = tt.cert.Pool
			}
			// Over every TLS-based probe: they share the handshake.
			for _, m := range []Method{tlsMethod, sipTLS, {KindXMPPClient, TLS}} {
				r := mustNew(t, m, opts).Probe(probeCtx(t, 2*time.Second), Target{Addr: addr, Domain: "voip.test", Host: "sip1.voip.test"})
				if got := <-sni; got != "voip.test" {
					t.Errorf("%v: SNI %q, want the service domain voip.test", m, got)
				}
				if !r.CertNotAfter.Equal(tt.cert.Leaf.NotAfter) {
					t.Errorf("%v: CertNotAfter %v, want %v", m, r.CertNotAfter, tt.cert.Leaf.NotAfter)
				}
				if m != tlsMethod {
					// The fake speaks no SIP or XMPP: when the handshake passes, those probes see it hang up,
					// as a close or, when the request was sent before the close, as a reset.
					if tt.up && r.Reason != "connection closed" && r.Reason != "connection reset" {
						t.Errorf("%v: got reason %q after a good handshake, want connection closed or reset", m, r.Reason)
					}
					if !tt.up && r.Reason != tt.reason {
						t.Errorf("%v: got reason %q, want %q", m, r.Reason, tt.reason)
					}
					continue
				}
				if r.Up != tt.up || r.Reason != tt.reason {
					t.Errorf("got up=%v reason %q, want up=%v reason %q", r.Up, r.Reason, tt.up, tt.reason)
				}
			}
		})
	}
}

func TestTLSFailures(t *testing.T) {
	tests := []struct {
		name   string
		handle func(net.Conn)
		reason string
	}{
		{name: "silent", handle: fakepeer.Silent, reason: "timeout"},
		{name: "not TLS", reason: "tls handshake: first record does not look like a TLS handshake", handle: func(c net.Conn) {
			c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
			fakepeer.Silent(c)
		}},
		// A server that hangs up is seen as a close (FIN) only when it read everything we sent; a close
		// with our ClientHello still unread makes its kernel send a reset instead. Each fake settles that
		// order itself, so that neither reason depends on which side the scheduler runs first.
		{name: "closed", reason: "connection closed", handle: func(c net.Conn) { readClientHello(c) }},
		{name: "reset", reason: "connection reset", handle: func(c net.Conn) {
			readClientHello(c)
			c.(*net.TCPConn).SetLinger(0) // close with RST
		}},
		{name: "closed unread", reason: "connection reset", handle: func(c net.Conn) {
			c.Read(make([]byte, 1)) // the ClientHello has arrived; leave the rest unread
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakepeer.TCP(t, tt.handle)
			r := mustNew(t, tlsMethod, Options{}).Probe(probeCtx(t, 300*time.Millisecond), Target{Addr: addr, Domain: "voip.test"})
			if r.Up || r.Reason != tt.reason {
				t.Errorf("got up=%v reason %q, want %q", r.Up, r.Reason, tt.reason)
			}
		})
	}
	r := mustNew(t, tlsMethod, Options{}).Probe(probeCtx(t, time.Second), Target{Addr: fakepeer.ClosedPort(t), Domain: "voip.test"})
	if r.Up || r.Reason != "connection refused" {
		t.Errorf("closed port: got up=%v reason %q, want connection refused", r.Up, r.Reason)
	}
}

// readClientHello reads the first TLS record, the client's whole ClientHello, so that nothing we sent
// is left unread when the fake closes.
func readClientHello(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [5]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return
	}
	io.CopyN(io.Discard, c, int64(h[3])<<8|int64(h[4]))
}

// Without a domain, SNI falls back to the SRV target.
func TestTLSServerNameFallback(t *testing.T) {
	cert := testpeer.NewCert(t, testpeer.CertSpec{Names: []string{"sip1.voip.test"}})
	addr := fakepeer.TLS(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS}}, nil)
	r := mustNew(t, tlsMethod, Options{TLSVerify: true, RootCAs: cert.Pool}).Probe(probeCtx(t, 2*time.Second), Target{Addr: addr, Host: "sip1.voip.test"})
	if !r.Up {
		t.Errorf("down: %s", r.Reason)
	}
}

// SIP phones and SBCs that speak only TLS 1.0 or 1.1, some only with the RSA key exchange, are alive:
// without tls_verify the probe asks whether the server answers, and it does. With tls_verify the probe
// asks whether a client that insists on a safe connection gets one, and below TLS 1.2 it does not.
func TestTLSLegacyVersions(t *testing.T) {
	ecdsaCert := testpeer.NewCert(t, testpeer.CertSpec{Names: []string{"voip.test"}})
	rsaCfg, err := fakepeer.SelfSignedRSA("voip.test")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		version uint16
		certs   []tls.Certificate
		suites  []uint16 // nil: the server's defaults
	}{
		{"TLS 1.0", tls.VersionTLS10, []tls.Certificate{ecdsaCert.TLS}, nil},
		{"TLS 1.1", tls.VersionTLS11, []tls.Certificate{ecdsaCert.TLS}, nil},
		{"TLS 1.0 RSA key exchange", tls.VersionTLS10, rsaCfg.Certificates, []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}},
		{"TLS 1.1 3DES", tls.VersionTLS11, rsaCfg.Certificates, []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}},
		{"TLS 1.2 RSA key exchange", tls.VersionTLS12, rsaCfg.Certificates, []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{Certificates: tt.certs, MinVersion: tls.VersionTLS10, MaxVersion: tt.version, CipherSuites: tt.suites}
			tlsAddr := fakepeer.TLS(t, cfg, nil)
			sipAddr := fakepeer.TLS(t, cfg, fakepeer.SIPStream(fakepeer.Answer("200 OK")))
			target := func(a netip.AddrPort) Target { return Target{Addr: a, Domain: "voip.test"} }

			r := mustNew(t, tlsMethod, Options{Details: true}).Probe(probeCtx(t, 2*time.Second), target(tlsAddr))
			if !r.Up {
				t.Fatalf("tls: down (%s), want up without tls_verify", r.Reason)
			}
			if r.Details == nil || r.Details.TLS == nil || r.Details.TLS.Version != tt.version {
				t.Errorf("tls: details %+v, want version %s", r.Details, tls.VersionName(tt.version))
			}
			if r := mustNew(t, sipTLS, Options{}).Probe(probeCtx(t, 2*time.Second), target(sipAddr)); !r.Up || r.Reason != "sip 200 OK" {
				t.Errorf("sip-tls: got up=%v reason %q, want sip 200 OK", r.Up, r.Reason)
			}

			if tt.version >= tls.VersionTLS12 {
				return
			}
			opts := Options{TLSVerify: true, RootCAs: ecdsaCert.Pool}
			r = mustNew(t, tlsMethod, opts).Probe(probeCtx(t, 2*time.Second), target(tlsAddr))
			if r.Up || !strings.HasSuffix(r.Reason, "protocol version not supported") {
				t.Errorf("tls with tls_verify: got up=%v reason %q, want down below TLS 1.2", r.Up, r.Reason)
			}
		})
	}
}
