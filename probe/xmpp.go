package probe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
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
// 4.9.3.6) and got as far as negotiating. The probe stops there, before STARTTLS or authentication,
// and so needs no account.
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
	c, notAfter, err := connect(ctx, t, tr, p.opts, p.alpn)
	if err != nil {
		r := failed(err)
		r.CertNotAfter = notAfter
		return r
	}
	defer c.Close()
	stop := bindDeadline(ctx, c)
	defer stop()

	if _, err = io.WriteString(c, streamHeader(p.ns, serverName(t))); err == nil {
		err = readXMPPStream(c, p.ns)
	}
	r := up()
	if err != nil {
		r = failed(err)
	}
	r.CertNotAfter = notAfter
	return r
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
	br := bufio.NewReader(&limitReader{r: r, n: maxReply})
	// The decoder returns text only once it sees the next '<', which a server speaking another protocol
	// may never send; a first byte that cannot start an XML document settles it at once.
	for {
		b, err := br.ReadByte()
		if err != nil {
			return xmlReadError(err)
		}
		if b == ' ' || b == '\t' || b == '\r' || b == '\n' {
			continue
		}
		br.UnreadByte()
		if b != '<' && b != 0xEF { // 0xEF: a UTF-8 byte order mark
			return errMalformed
		}
		break
	}
	d := xml.NewDecoder(br)
	opened := false
	for {
		tok, err := d.Token()
		if err != nil {
			return xmlReadError(err)
		}
		if cd, ok := tok.(xml.CharData); ok && len(bytes.TrimSpace(cd)) > 0 {
			// Text before the root element is not XML, and inside the stream only whitespace
			// keep-alives may appear between elements (RFC 6120 section 4.6.1): whoever sends this
			// does not speak XMPP.
			return errMalformed
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue // the XML declaration, whitespace keep-alives, comments
		}
		switch {
		case !opened && se.Name == (xml.Name{Space: nsStreams, Local: "stream"}):
			// The answer must be in our content namespace (section 4.8.2). Prosody, for one, answers in
			// the namespace of the port instead, so this is what tells a client port from a server port
			// when an SRV record points at the wrong one.
			for _, a := range se.Attr {
				if a.Name.Space == "" && a.Name.Local == "xmlns" && a.Value != ns {
					return protoErrorf("stream namespace %.40s, want %s", a.Value, ns)
				}
			}
			opened = true
		case !opened:
			return errMalformed
		case se.Name == (xml.Name{Space: nsStreams, Local: "features"}):
			return nil
		case se.Name == (xml.Name{Space: nsStreams, Local: "error"}):
			return streamError(d)
		default:
			return protoErrorf("unexpected <%.40s> before stream features", se.Name.Local)
		}
	}
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
