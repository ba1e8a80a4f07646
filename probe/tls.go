package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"time"
)

// tlsProber is up when a TLS handshake completes. With Options.TLSVerify the peer's chain and name are
// verified too; either way the leaf's expiry is reported so it can be exported as a metric.
type tlsProber struct{ opts Options }

func (p tlsProber) probe(ctx context.Context, t Target) Result {
	c, seen, err := dialTLS(ctx, t, p.opts, nil)
	r := up()
	if err != nil {
		r = failed(err)
	} else {
		c.Close()
	}
	return seen.report(r, newDetails(p.opts))
}

// serverName is the name we expect the peer to present: the service domain (RFC 6125 and RFC 5922
// section 4 for SIP, RFC 6120 section 13.7.2.1 for XMPP, which name the service domain and not the SRV
// target as the reference identity), falling back to the SRV target, then to the address.
func serverName(t Target) string {
	switch {
	case t.Domain != "":
		return t.Domain
	case t.Host != "":
		return t.Host
	}
	return t.Addr.Addr().String()
}

// tlsSeen is what a TLS handshake showed of the peer, as far as it got.
type tlsSeen struct {
	notAfter time.Time
	state    *TLSState // only with Options.Details
}

// report puts what the handshake showed into r, and d (when not nil) into r.Details.
func (s tlsSeen) report(r Result, d *Details) Result {
	r.CertNotAfter = s.notAfter
	if d != nil {
		if d.TLS == nil {
			d.TLS = s.state
		}
		r.Details = d
	}
	return r
}

// dialTLS connects and does a TLS handshake, see handshakeTLS.
func dialTLS(ctx context.Context, t Target, opts Options, alpn []string) (*tls.Conn, tlsSeen, error) {
	c, err := dial(ctx, "tcp", t)
	if err != nil {
		return nil, tlsSeen{}, err
	}
	tc, seen, err := handshakeTLS(ctx, c, t, opts, alpn)
	if err != nil {
		c.Close()
		return nil, seen, err
	}
	return tc, seen, nil
}

// handshakeTLS does a TLS handshake over c with SNI = serverName(t), offering alpn (XEP-0368 asks direct
// TLS XMPP to offer "xmpp-client" or "xmpp-server"). It returns the leaf's NotAfter even when
// verification fails, so an expired certificate is still reported as such. It does not close c.
//
// Verification is done in VerifyConnection rather than by crypto/tls itself for that reason: with
// built-in verification a failed handshake hands back no certificate.
//
// The versions depend on what is asked. Without Options.TLSVerify the question is whether the server
// answers, so TLS 1.0 and 1.1 count (with the suites of legacyCipherSuites): SIP phones and SBCs that
// speak nothing newer are alive, and a client configured for them reaches them. Go's clients default to
// TLS 1.2 since Go 1.22 whatever GODEBUG says (tls10server is for servers), so the minimum is set here.
// The negotiated version is in Details.TLS. With TLSVerify the question is whether a client that
// insists on a safe connection gets one: TLS 1.2 at least, and Go's default suites (RFC 8996 deprecates
// 1.0 and 1.1).
func handshakeTLS(ctx context.Context, c net.Conn, t Target, opts Options, alpn []string) (*tls.Conn, tlsSeen, error) {
	var seen tlsSeen
	name := serverName(t)
	cfg := &tls.Config{
		ServerName:         name,
		NextProtos:         alpn,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // we verify in VerifyConnection, below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return &certError{err: errors.New("no certificate")}
			}
			leaf := cs.PeerCertificates[0]
			seen.notAfter = leaf.NotAfter
			if opts.Details {
				seen.state = &TLSState{Certificates: cs.PeerCertificates}
			}
			if !opts.TLSVerify {
				return nil
			}
			vo := x509.VerifyOptions{
				DNSName:       name,
				Roots:         opts.RootCAs,
				Intermediates: x509.NewCertPool(),
				KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}
			for _, c := range cs.PeerCertificates[1:] {
				vo.Intermediates.AddCert(c)
			}
			if _, err := leaf.Verify(vo); err != nil {
				return &certError{err: err}
			}
			return nil
		},
	}
	if !opts.TLSVerify {
		cfg.MinVersion, cfg.CipherSuites = tls.VersionTLS10, legacyCipherSuites
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if _, ok := errors.AsType[*certError](err); !ok && !isIOError(err) {
			err = protoErrorf("tls handshake: %s", trimTLS(err.Error()))
		}
		return nil, seen, err
	}
	if seen.state != nil {
		cs := tc.ConnectionState()
		seen.state.Version, seen.state.ALPN = cs.Version, cs.NegotiatedProtocol
	}
	return tc, seen, nil
}

// legacyCipherSuites are the TLS 1.0-1.2 suites a probe without tls_verify offers: every suite crypto/tls
// implements but RC4, including those it leaves out of its defaults, RSA key exchange (GODEBUG
// tlsrsakex) and 3DES (tls3des). Those defaults are for clients that need secrecy; an availability
// probe needs an answer, and SIP phones and SBCs that speak only TLS 1.0 or 1.1 often offer nothing
// else. Without verification the peer is not authenticated anyway, and the probe sends nothing secret.
// Set in code, so that the probe does not depend on the process's GODEBUG. (TLS 1.3 suites are not
// configurable and always offered.)
var legacyCipherSuites = func() []uint16 {
	var ids []uint16
	for _, s := range tls.CipherSuites() {
		ids = append(ids, s.ID)
	}
	for _, s := range tls.InsecureCipherSuites() {
		if !strings.Contains(s.Name, "RC4") {
			ids = append(ids, s.ID)
		}
	}
	return ids
}()

// certError is a certificate the peer presented but we could not accept.
type certError struct{ err error }

func (e *certError) Error() string { return e.err.Error() }
func (e *certError) Unwrap() error { return e.err }

func (e *certError) reason() string {
	var (
		inv x509.CertificateInvalidError
		hn  x509.HostnameError
		ua  x509.UnknownAuthorityError
	)
	switch {
	case errors.As(e.err, &inv) && inv.Reason == x509.Expired:
		return "certificate expired or not yet valid"
	case errors.As(e.err, &hn):
		return "certificate name mismatch"
	case errors.As(e.err, &ua):
		return "certificate signed by unknown authority"
	}
	return "certificate: " + e.err.Error()
}

// isIOError reports whether err came from the connection rather than from the TLS exchange itself, so
// that a timeout during a handshake reads "timeout" and not "tls handshake: ... i/o timeout".
func isIOError(err error) bool {
	r := reason(err)
	return r == "timeout" || r == "canceled" || r == "connection reset" || r == "connection closed"
}

func trimTLS(s string) string {
	const p = "tls: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
