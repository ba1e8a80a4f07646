package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"time"
)

// tlsProber is up when a TLS handshake completes. With Options.TLSVerify the peer's chain and name are
// verified too; either way the leaf's expiry is reported so it can be exported as a metric.
type tlsProber struct{ opts Options }

func (p tlsProber) probe(ctx context.Context, t Target) Result {
	c, notAfter, err := dialTLS(ctx, t, p.opts, nil)
	if err != nil {
		r := failed(err)
		r.CertNotAfter = notAfter
		return r
	}
	c.Close()
	r := up()
	r.CertNotAfter = notAfter
	return r
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

// dialTLS connects and does a TLS handshake with SNI = serverName(t), offering alpn (XEP-0368 asks direct
// TLS XMPP to offer "xmpp-client" or "xmpp-server"). It returns the leaf's NotAfter even when
// verification fails, so an expired certificate is still reported as such.
//
// Verification is done in VerifyConnection rather than by crypto/tls itself for that reason: with
// built-in verification a failed handshake hands back no certificate.
func dialTLS(ctx context.Context, t Target, opts Options, alpn []string) (*tls.Conn, time.Time, error) {
	var notAfter time.Time
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
			notAfter = leaf.NotAfter
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
	c, err := dial(ctx, "tcp", t)
	if err != nil {
		return nil, notAfter, err
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		if _, ok := errors.AsType[*certError](err); !ok && !isIOError(err) {
			err = protoErrorf("tls handshake: %s", trimTLS(err.Error()))
		}
		return nil, notAfter, err
	}
	return tc, notAfter, nil
}

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
