package probe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"strings"
)

// The namespaces of RFC 6120.
const (
	nsStreams      = "http://etherx.jabber.org/streams"
	nsStreamErrors = "urn:ietf:params:xml:ns:xmpp-streams"
)

// xmppProber opens an XMPP stream (RFC 6120 section 4.2) and is up when the server answers with its own
// stream header and then its stream features (section 4.3.2). That proves more than a TCP connect: the
// server parsed our header, knows the domain (else it sends a host-unknown stream error, section
// 4.9.3.6) and got as far as negotiating. Over plain TCP, when the features offer STARTTLS, the probe
// then does the TLS handshake to report the certificate's expiry; it stops there, before the stream is
// restarted or anyone authenticates, and so needs no account. What STARTTLS does never changes the
// verdict; a server that takes <starttls/> and answers nothing costs the probe its timeout.
type xmppProber struct {
	ns        string   // "jabber:client" or "jabber:server"
	alpn      []string // for direct TLS
	directTLS bool
	opts      Options
}

func newXMPPProber(k Kind, directTLS bool, opts Options) *xmppProber {
	p := &xmppProber{ns: "jabber:client", alpn: []string{"xmpp-client"}, directTLS: directTLS, opts: opts}
	if k == KindXMPPServer {
		p.ns, p.alpn = "jabber:server", []string{"xmpp-server"}
	}
	return p
}

func (p *xmppProber) probe(ctx context.Context, t Target) Result {
	tr := TCP
	if p.directTLS {
		tr = TLS // XEP-0368: TLS from the first byte, offering the protocol by ALPN
	}
	d := newDetails(p.opts)
	c, seen, err := connect(ctx, t, tr, p.opts, p.alpn)
	if err != nil {
		return seen.report(failed(err), d)
	}
	defer c.Close()
	stop := bindDeadline(ctx, c)
	defer stop()

	var s *xmppStream
	if _, err = io.WriteString(c, streamHeader(p.ns, serverName(t))); err == nil {
		s, err = openXMPPStream(c, p.ns, d != nil)
	}
	if err != nil {
		return seen.report(failed(err), d)
	}
	// The features have begun: the server is up, whatever follows. Over plain TCP the certificate users
	// see is behind STARTTLS, so the probe goes on to it for its expiry (and, with Details, the chain).
	if d != nil {
		d.StartTLS = s.startTLS
	} else if !p.directTLS {
		if s.startTLS, err = s.readFeatures(); err != nil {
			return seen.report(up(), d) // a server that garbles its features is still up
		}
	}
	if !p.directTLS && s.startTLS >= StartTLSOffered {
		startSeen, err := s.negotiateTLS(ctx, c, t, p.opts)
		seen.notAfter = startSeen.notAfter
		if d != nil {
			d.TLS = startSeen.state
			if err != nil {
				d.StartTLSError = reason(err)
			}
		}
	}
	return seen.report(up(), d)
}

// streamHeader is the initial stream header (RFC 6120 section 4.7): 'to' is the service domain. There
// is no 'from': a client does not know its JID before authenticating, and for server-to-server it is
// only a SHOULD (section 4.7.1), which neither Prosody nor ejabberd insists on before sending features.
func streamHeader(ns, to string) string {
	var b strings.Builder
	b.WriteString("<?xml version='1.0'?><stream:stream to='")
	xml.EscapeText(&b, []byte(to))
	b.WriteString("' xmlns='" + ns + "' xmlns:stream='" + nsStreams + "' version='1.0'>")
	return b.String()
}

// readXMPPStream reads the server's side of the stream until it is known to be good (a <stream:stream>
// start followed by <stream:features>) or bad. It reads at most maxReply bytes, so a server that
// streams endless whitespace or a huge element fails instead of filling memory; a stream error yields
// its defined condition as the reason ("stream error host-unknown", section 4.9.3). ns is the content
// namespace we opened our stream with.
func readXMPPStream(r io.Reader, ns string) error {
	_, err := openXMPPStream(r, ns, false)
	return err
}

// xmppStream is the server's side of a stream the probe has opened.
type xmppStream struct {
	d        *xml.Decoder
	startTLS StartTLS // what the features said, when they were read to their end
}

// openXMPPStream is readXMPPStream that, with features, reads the stream features to their end to learn
// what they say about STARTTLS, and returns the stream to go on with.
func openXMPPStream(r io.Reader, ns string, features bool) (*xmppStream, error) {
	br := bufio.NewReader(&limitReader{r: r, n: maxReply})
	// The decoder returns text only once it sees the next '<', which a server speaking another protocol
	// may never send; a first byte that cannot start an XML document settles it at once.
	for {
		b, err := br.ReadByte()
		if err != nil {
			return nil, xmlReadError(err)
		}
		if b == ' ' || b == '\t' || b == '\r' || b == '\n' {
			continue
		}
		br.UnreadByte()
		if b != '<' && b != 0xEF { // 0xEF: a UTF-8 byte order mark
			return nil, errMalformed
		}
		break
	}
	s := &xmppStream{d: xml.NewDecoder(br)}
	opened := false
	for {
		se, err := s.nextElement()
		if err != nil {
			return nil, err
		}
		switch {
		case !opened && se.Name == (xml.Name{Space: nsStreams, Local: "stream"}):
			// The answer must be in our content namespace (section 4.8.2). Prosody, for one, answers in
			// the namespace of the port instead, so this is what tells a client port from a server port
			// when an SRV record points at the wrong one.
			for _, a := range se.Attr {
				if a.Name.Space == "" && a.Name.Local == "xmlns" && a.Value != ns {
					return nil, protoErrorf("stream namespace %.40s, want %s", a.Value, ns)
				}
			}
			opened = true
		case !opened:
			return nil, errMalformed
		case se.Name == (xml.Name{Space: nsStreams, Local: "features"}):
			if features {
				if s.startTLS, err = s.readFeatures(); err != nil {
					return nil, err
				}
			}
			return s, nil
		case se.Name == (xml.Name{Space: nsStreams, Local: "error"}):
			return nil, streamError(s.d)
		default:
			return nil, protoErrorf("unexpected <%.40s> before stream features", se.Name.Local)
		}
	}
}

// nextElement returns the next start element, skipping the XML declaration, whitespace keep-alives
// and comments.
func (s *xmppStream) nextElement() (xml.StartElement, error) {
	for {
		tok, err := s.d.Token()
		if err != nil {
			return xml.StartElement{}, xmlReadError(err)
		}
		if cd, ok := tok.(xml.CharData); ok && len(bytes.TrimSpace(cd)) > 0 {
			// Text before the root element is not XML, and inside the stream only whitespace
			// keep-alives may appear between elements (RFC 6120 section 4.6.1): whoever sends this
			// does not speak XMPP.
			return xml.StartElement{}, errMalformed
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se, nil
		}
	}
}

// The namespace of STARTTLS (RFC 6120 section 5.4).
const nsTLS = "urn:ietf:params:xml:ns:xmpp-tls"

// readFeatures reads the children of <stream:features> up to its end tag, for what they say about
// STARTTLS (section 5.4.1: <starttls/>, with a <required/> child when the server insists).
func (s *xmppStream) readFeatures() (StartTLS, error) {
	st := StartTLSNone
	depth := 0 // below <stream:features>
	for {
		tok, err := s.d.Token()
		if err != nil {
			return st, xmlReadError(err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && tok.Name == (xml.Name{Space: nsTLS, Local: "starttls"}):
				st = StartTLSOffered
			case depth == 2 && st == StartTLSOffered && tok.Name == (xml.Name{Space: nsTLS, Local: "required"}):
				st = StartTLSRequired
			}
		case xml.EndElement:
			if depth == 0 {
				return st, nil // </stream:features>
			}
			depth--
		}
	}
}

// negotiateTLS asks for STARTTLS (section 5.4.2) and, when the server proceeds, does the TLS handshake
// over c to see the certificate; the stream is not restarted, the probe ends there.
func (s *xmppStream) negotiateTLS(ctx context.Context, c net.Conn, t Target, opts Options) (tlsSeen, error) {
	if _, err := io.WriteString(c, "<starttls xmlns='"+nsTLS+"'/>"); err != nil {
		return tlsSeen{}, err
	}
	var se xml.StartElement
	for se.Name.Local == "" {
		tok, err := s.d.Token()
		if err != nil {
			return tlsSeen{}, xmlReadError(err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			se = tok
		case xml.EndElement:
			return tlsSeen{}, io.EOF // </stream:stream>: the server closed the stream, if not the connection
		}
	}
	switch se.Name {
	case xml.Name{Space: nsTLS, Local: "proceed"}:
		// The server sends nothing more before our ClientHello, so nothing of the TLS stream is left in
		// the decoder's buffer.
		_, seen, err := handshakeTLS(ctx, c, t, opts, nil)
		return seen, err
	case xml.Name{Space: nsTLS, Local: "failure"}:
		return tlsSeen{}, protoErrorf("starttls failure")
	case xml.Name{Space: nsStreams, Local: "error"}:
		return tlsSeen{}, streamError(s.d)
	}
	return tlsSeen{}, protoErrorf("unexpected <%.40s> after starttls", se.Name.Local)
}

// streamError reads the children of <stream:error> for the defined condition (RFC 6120 section
// 4.9.2): the first child element in the stream-errors namespace other than <text>.
func streamError(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return protoErrorf("stream error")
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Space == nsStreamErrors && tok.Name.Local != "text" {
				return protoErrorf("stream error %.40s", tok.Name.Local)
			}
			if err := d.Skip(); err != nil {
				return protoErrorf("stream error")
			}
		case xml.EndElement:
			return protoErrorf("stream error") // </stream:error> without a condition
		}
	}
}

// xmlReadError keeps I/O errors (timeouts, resets, EOF) as they are, so their reason is the usual one,
// and makes anything else the decoder complains about a malformed reply.
func xmlReadError(err error) error {
	var se *xml.SyntaxError
	switch {
	case errors.As(err, &se):
		if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(se.Msg, "unexpected EOF") {
			return io.EOF
		}
		return errMalformed
	case errors.Is(err, io.EOF):
		return io.EOF
	}
	return err
}
