// Package probe checks whether a SIP or XMPP server answers, speaking the server's own protocol.
//
// Each probe is bounded by the caller's context; none of them sleeps. A probe never panics on what a
// server sends: a malformed, oversized or foreign reply is a failed probe with a reason.
package probe

import (
	"context"
	"crypto/x509"
	"net/netip"
	"time"
)

// Kind names a probe as it is written in the Corefile.
type Kind string

// The probe kinds.
const (
	KindNone       Kind = "none"
	KindTCP        Kind = "tcp"
	KindTLS        Kind = "tls"
	KindSIP        Kind = "sip"
	KindXMPPClient Kind = "xmpp-client"
	KindXMPPServer Kind = "xmpp-server"
)

// Transport is the transport a probe speaks over.
type Transport string

// The transports.
const (
	UDP Transport = "udp"
	TCP Transport = "tcp"
	TLS Transport = "tls"
)

// Method is a probe kind over a transport: SIP over UDP, XMPP c2s over direct TLS, and so on. It is
// comparable and used as part of a health table key.
type Method struct {
	Kind      Kind
	Transport Transport
}

// String returns the method as it appears in metric labels and logs: "tcp", "tls", "none", "sip-udp",
// "sip-tcp", "sip-tls", "xmpp-client", "xmpp-client-tls", "xmpp-server", "xmpp-server-tls".
func (m Method) String() string {
	switch m.Kind {
	case KindSIP:
		return string(m.Kind) + "-" + string(m.Transport)
	case KindXMPPClient, KindXMPPServer:
		if m.Transport == TLS {
			return string(m.Kind) + "-tls"
		}
	}
	return string(m.Kind)
}

// Target is one address to probe.
type Target struct {
	// Addr is the address and port to connect to.
	Addr netip.AddrPort
	// Domain is the service domain, the SRV owner name without its _service._proto labels and without a
	// trailing dot (e.g. "example.com"). It is the TLS SNI, the XMPP stream 'to' and the SIP request URI
	// host.
	Domain string
	// Host is the SRV target without a trailing dot (e.g. "sip1.example.com"), used where a protocol wants
	// the name of the machine rather than of the service.
	Host string
}

// Result is the outcome of one probe.
type Result struct {
	Up       bool
	Reason   string        // short, for logs: "connection refused", "sip 503", "stream error host-unknown"
	Duration time.Duration // from start to verdict
	// CertNotAfter is the expiry of the peer's leaf certificate for probes that did a TLS handshake; zero
	// otherwise.
	CertNotAfter time.Time
}

// Options tune the probes. The zero value is usable.
type Options struct {
	// TLSVerify turns on certificate verification (chain and name) in TLS-based probes.
	TLSVerify bool
	// RootCAs verifies against this pool instead of the system pool when TLSVerify is set.
	RootCAs *x509.CertPool
	// SIPAccept decides whether a final SIP status code means the server is alive; nil means
	// DefaultSIPAccept.
	SIPAccept func(code int) bool
}

// Prober probes one target. Implementations are safe for concurrent use.
type Prober interface {
	Probe(ctx context.Context, t Target) Result
}
