// Package probe checks whether a SIP or XMPP server answers, speaking the server's own protocol.
//
// Each probe is bounded by the caller's context; none of them sleeps. A probe never panics on what a
// server sends: a malformed, oversized or foreign reply is a failed probe with a reason.
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
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
	Up bool
	// Reason is short, for logs: "connection refused", "timeout", "sip 503 Service Unavailable", "stream
	// error host-unknown". An up result may carry one too ("sip 404 Not Found", "no check"). It is
	// printable UTF-8 of at most MaxPeerText bytes, whatever the server sent (see PeerText), as are the
	// strings of Details.
	Reason string
	// Duration is the time from start to verdict, set by every prober that New returns.
	Duration time.Duration
	// CertNotAfter is the expiry of the peer's leaf certificate for probes that did a TLS handshake; zero
	// otherwise.
	CertNotAfter time.Time
	// Details is what the probe saw beyond its verdict; only with Options.Details, nil otherwise.
	Details *Details
}

// Details is what a probe saw of a server beyond up or down, for an operator's report (srvhealth check):
// the certificate chain to judge, the software that answered, whether XMPP offers STARTTLS.
type Details struct {
	// TLS is what the TLS handshake showed, as far as it got (direct TLS, or STARTTLS on an XMPP
	// stream); nil when no certificate was seen.
	TLS *TLSState
	// SIPServer is the Server header of the SIP response, or its User-Agent when it has none.
	SIPServer string
	// StartTLS is what an XMPP server's stream features said about STARTTLS.
	StartTLS StartTLS
	// StartTLSError says why STARTTLS, offered by an XMPP server, could not be completed; empty when it
	// was, or was not tried. The verdict does not depend on it: the stream features already proved a
	// live server.
	StartTLSError string
}

// TLSState is what a TLS handshake showed of the peer.
type TLSState struct {
	// Version and ALPN are zero when the handshake failed after the certificate was seen.
	Version uint16
	ALPN    string
	// Certificates is the chain as the peer sent it, leaf first, unverified.
	Certificates []*x509.Certificate
}

// StartTLS is what an XMPP server's stream features say about STARTTLS (RFC 6120 section 5.3.1).
type StartTLS uint8

// The STARTTLS states.
const (
	StartTLSUnknown  StartTLS = iota // no features seen
	StartTLSNone                     // features without <starttls/>
	StartTLSOffered                  // <starttls/>
	StartTLSRequired                 // <starttls><required/></starttls>
)

// String returns "", "none", "offered" or "required".
func (s StartTLS) String() string {
	switch s {
	case StartTLSNone:
		return "none"
	case StartTLSOffered:
		return "offered"
	case StartTLSRequired:
		return "required"
	}
	return ""
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
	// Details asks the probes to fill Result.Details, and XMPP probes to go on to STARTTLS when the
	// server offers it, to see its certificate. The monitor leaves it off: it would keep certificate
	// chains per target and lengthen every XMPP probe.
	Details bool
}

// Prober probes one target. Implementations are safe for concurrent use.
type Prober interface {
	Probe(ctx context.Context, t Target) Result
}

// New returns the prober for a method. It fails for a combination that has no meaning, such as a TCP
// connect over UDP or XMPP over UDP. An empty Transport means the kind's natural one (TCP for tcp and
// XMPP, TLS for tls); SIP needs an explicit transport.
func New(m Method, opts Options) (Prober, error) {
	var p prober
	switch m.Kind {
	case KindNone:
		p = noneProber{}
	case KindTCP:
		if m.Transport == TCP || m.Transport == "" {
			p = tcpProber{}
		}
	case KindTLS:
		if m.Transport == TLS || m.Transport == "" {
			p = tlsProber{opts: opts}
		}
	case KindSIP:
		if m.Transport == UDP || m.Transport == TCP || m.Transport == TLS {
			p = newSIPProber(m.Transport, opts)
		}
	case KindXMPPClient, KindXMPPServer:
		if m.Transport == TCP || m.Transport == TLS || m.Transport == "" {
			p = newXMPPProber(m.Kind, m.Transport == TLS, opts)
		}
	default:
		return nil, fmt.Errorf("probe: unknown kind %q", m.Kind)
	}
	if p == nil {
		return nil, fmt.Errorf("probe: kind %q does not run over transport %q", m.Kind, m.Transport)
	}
	return timed{p}, nil
}

// prober is what each protocol implements; timed wraps it so that every Result carries its Duration
// without each protocol having to remember it.
type prober interface {
	probe(ctx context.Context, t Target) Result
}

type timed struct{ p prober }

func (tp timed) Probe(ctx context.Context, t Target) Result {
	start := time.Now()
	r := tp.p.probe(ctx, t)
	r.Duration = time.Since(start)
	// Every text a Result carries may hold what the server sent (a SIP reason phrase or Server header,
	// an XMPP namespace, a certificate's name in an x509 error), so it is all made safe here, once.
	r.Reason = PeerText(r.Reason)
	if d := r.Details; d != nil {
		d.SIPServer = PeerText(d.SIPServer)
		d.StartTLSError = PeerText(d.StartTLSError)
	}
	return r
}

// MaxPeerText is the most bytes of text a Result holds in one string (Reason, Details.SIPServer,
// Details.StartTLSError). It keeps a reason well inside one TXT string of the status answer (255
// octets, RFC 1035 section 3.3) beside its prefix, and keeps log lines and metric labels short.
const MaxPeerText = 128

// PeerText returns s as a probe reports it: every character that is not printable (control
// characters, line breaks, tabs, Unicode format characters such as bidi overrides, bytes that are not
// UTF-8) replaced by '?', and cut at a character boundary to at most MaxPeerText bytes, the last three
// of them "..." when it was cut. A server decides what it sends; this is what it can get into our
// logs, metrics and status answers. The marker is ASCII because a TXT string is bytes, and dig
// escapes the rest.
func PeerText(s string) string {
	if len(s) <= MaxPeerText && !strings.ContainsFunc(s, notPrintable) {
		return s // the usual case: no allocation
	}
	b := make([]byte, 0, MaxPeerText+utf8.UTFMax)
	for _, r := range s {
		if notPrintable(r) {
			r = '?'
		}
		if b = utf8.AppendRune(b, r); len(b) > MaxPeerText {
			break
		}
	}
	if len(b) <= MaxPeerText {
		return string(b)
	}
	const more = "..."
	cut := MaxPeerText - len(more)
	for !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + more
}

// notPrintable reports whether r may not appear in a probe's text; utf8.RuneError is also what ranging
// over a string yields for a byte that is not UTF-8.
func notPrintable(r rune) bool { return r == utf8.RuneError || !unicode.IsPrint(r) }

// noneProber is for services with no check: the target is up as long as it resolves, which the caller
// decides, not us.
type noneProber struct{}

func (noneProber) probe(context.Context, Target) Result { return Result{Up: true, Reason: "no check"} }

// up and down build results.
func up() Result { return Result{Up: true} }

func down(reason string) Result { return Result{Reason: reason} }

// failed turns an I/O error into a down Result with a short reason. The reasons are few and stable
// because they end up in logs that people grep, and because a raw error ("read tcp 127.0.0.1:40000->
// 127.0.0.1:5060: i/o timeout") says more about us than about the server.
func failed(err error) Result { return down(reason(err)) }

func reason(err error) string {
	var (
		ne    net.Error
		perr  *protoError
		certE *certError
	)
	switch {
	case errors.As(err, &perr):
		return perr.reason
	case errors.As(err, &certE):
		return certE.reason()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.Is(err, errTooLarge):
		return "reply too large"
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return "tls handshake: not tls"
	}
	return err.Error()
}

// protoError is a protocol-level failure whose text is the reason as is ("sip 503 Service Unavailable",
// "stream error host-unknown", "malformed reply").
type protoError struct{ reason string }

func (e *protoError) Error() string { return e.reason }

func protoErrorf(format string, a ...any) error { return &protoError{fmt.Sprintf(format, a...)} }

// errMalformed is what a peer that does not speak the protocol gets.
var errMalformed = &protoError{"malformed reply"}

// maxReply bounds what any probe reads from a server: a SIP message or the start of an XMPP stream are
// well under 64 KiB, and a server that sends more is not one we want to parse.
const maxReply = 64 << 10

var errTooLarge = errors.New("reply too large")

// limitReader is io.LimitReader that says so when the limit is hit, instead of a silent EOF that would
// look like the server closing the connection.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// bindDeadline makes every read and write on c end at ctx's deadline, and immediately when ctx is
// canceled. The returned func unbinds and must be called before c is closed by the caller.
func bindDeadline(ctx context.Context, c net.Conn) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
}

// connect opens a probe's connection over tr, a TLS one with ALPN alpn, bounded by ctx. seen is what a
// TLS handshake showed of the peer's certificate once it got that far, even when it then failed.
func connect(ctx context.Context, t Target, tr Transport, opts Options, alpn []string) (c net.Conn, seen tlsSeen, err error) {
	switch tr {
	case UDP:
		c, err = dial(ctx, "udp", t)
	case TLS:
		c, seen, err = dialTLS(ctx, t, opts, alpn)
	default:
		c, err = dial(ctx, "tcp", t)
	}
	return c, seen, err
}

// newDetails returns the Details a probe fills in, or nil when the options do not ask for them.
func newDetails(opts Options) *Details {
	if !opts.Details {
		return nil
	}
	return &Details{}
}

// dial opens a connection to the target, bounded by ctx. TCP keep-alive is off: a probe connection lives
// for one exchange, and setting keep-alive options costs system calls on every one of thousands of probes.
func dial(ctx context.Context, network string, t Target) (net.Conn, error) {
	d := net.Dialer{KeepAlive: -1}
	return d.DialContext(ctx, network, t.Addr.String())
}
