package fakepeer

import (
	"crypto/tls"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"strings"
	"time"
)

// StreamHeader is what a client's opening <stream:stream> asked for.
type StreamHeader struct {
	To string // the domain
	NS string // the default namespace: jabber:client (c2s) or jabber:server (s2s)
}

// XMPP serves an XMPP stream over TCP or, with ListenTLS, direct TLS (XEP-0368): it reads the client's
// stream header, writes what respond returns for it ("" writes nothing), and then holds the connection
// until the client hangs up.
func XMPP(respond func(StreamHeader) string) func(net.Conn) {
	return func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(IdleTimeout))
		h, err := readStreamHeader(xml.NewDecoder(io.LimitReader(c, maxMessage)))
		if err != nil {
			return
		}
		if _, err := io.WriteString(c, respond(h)); err != nil {
			return
		}
		Silent(c)
	}
}

// Proceed is the server's go-ahead for TLS after <starttls/> (RFC 6120 section 5.4.2.3).
const Proceed = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"

// XMPPStartTLS serves an XMPP stream over TCP that may be upgraded to TLS: it answers the client's stream
// header with a header and features (a <stream:features> element), and a <starttls/> that follows with
// answer; when answer is Proceed, the TLS handshake with cfg follows. Then it holds the connection until
// the client hangs up; "" answers nothing.
func XMPPStartTLS(features, answer string, cfg *tls.Config) func(net.Conn) {
	return func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(IdleTimeout))
		d := xml.NewDecoder(io.LimitReader(c, maxMessage))
		h, err := readStreamHeader(d)
		if err != nil {
			return
		}
		if _, err := io.WriteString(c, streamHeader(h)+features); err != nil {
			return
		}
		if se, err := nextElement(d); err != nil || se.Name.Local != "starttls" {
			return
		}
		if _, err := io.WriteString(c, answer); err != nil {
			return
		}
		if answer == Proceed {
			// The decoder may hold bytes read past <starttls/>; a client waits for <proceed/> before its
			// ClientHello (section 5.4.3.3), so there are none.
			if err := tls.Server(c, cfg).Handshake(); err != nil {
				return
			}
		}
		Silent(c)
	}
}

// Features is a server's answer when all is well: its stream header, in the client's namespace, and
// <stream:features> offering STARTTLS as required (RFC 6120 section 4.3.2), as Prosody answers.
func Features(h StreamHeader) string {
	return streamHeader(h) + `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`
}

// StreamError answers with the stream header and then the stream error condition ("host-unknown",
// RFC 6120 section 4.9.3), closing the stream.
func StreamError(condition string) func(StreamHeader) string {
	return func(h StreamHeader) string {
		return streamHeader(h) + `<stream:error><` + condition + ` xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`
	}
}

func streamHeader(h StreamHeader) string {
	ns := h.NS
	if ns == "" {
		ns = "jabber:client"
	}
	var b strings.Builder
	b.WriteString("<?xml version='1.0'?><stream:stream xmlns='")
	xml.EscapeText(&b, []byte(ns))
	b.WriteString("' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' id='fakepeer' from='")
	xml.EscapeText(&b, []byte(h.To))
	b.WriteString("'>")
	return b.String()
}

// readStreamHeader reads up to the client's first element, which must be its stream header.
func readStreamHeader(d *xml.Decoder) (StreamHeader, error) {
	se, err := nextElement(d)
	if err != nil {
		return StreamHeader{}, err
	}
	if se.Name.Local != "stream" {
		return StreamHeader{}, errors.New("fakepeer: not a stream header: <" + se.Name.Local + ">")
	}
	var h StreamHeader
	for _, a := range se.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "to":
			h.To = a.Value
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			h.NS = a.Value
		}
	}
	return h, nil
}

// nextElement skips to the next start tag: past the XML declaration, white space, end tags.
func nextElement(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.RawToken()
		if err != nil {
			return xml.StartElement{}, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se, nil
		}
	}
}
