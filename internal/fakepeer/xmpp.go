package fakepeer

import (
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
		h, err := readStreamHeader(io.LimitReader(c, maxMessage))
		if err != nil {
			return
		}
		if _, err := io.WriteString(c, respond(h)); err != nil {
			return
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
func readStreamHeader(r io.Reader) (StreamHeader, error) {
	d := xml.NewDecoder(r)
	for {
		tok, err := d.RawToken()
		if err != nil {
			return StreamHeader{}, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue // the XML declaration, white space
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
}
