package fakepeer

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The fake echoes the client's namespace and domain, over TCP and direct TLS, and sends a stream error
// when asked to.
func TestXMPP(t *testing.T) {
	header := func(ns string) string {
		return "<?xml version='1.0'?><stream:stream xmlns='" + ns +
			"' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' id='fakepeer' from='voip.test'>"
	}
	const features = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
	tests := []struct {
		name    string
		respond func(StreamHeader) string
		tls     bool
		ns      string
		want    string
	}{
		{name: "c2s", respond: Features, ns: "jabber:client", want: header("jabber:client") + features},
		{name: "s2s", respond: Features, ns: "jabber:server", want: header("jabber:server") + features},
		{name: "c2s direct TLS", respond: Features, tls: true, ns: "jabber:client", want: header("jabber:client") + features},
		{name: "s2s direct TLS", respond: Features, tls: true, ns: "jabber:server", want: header("jabber:server") + features},
		{name: "host-unknown", respond: StreamError("host-unknown"), ns: "jabber:client", want: header("jabber:client") +
			"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan StreamHeader, 1)
			serve := XMPP(func(h StreamHeader) string { got <- h; return tt.respond(h) })
			var c net.Conn
			var err error
			if tt.tls {
				c, err = tls.Dial("tcp", TLS(t, nil, serve).String(), &tls.Config{InsecureSkipVerify: true})
			} else {
				c, err = net.Dial("tcp", TCP(t, serve).String())
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "<?xml version='1.0'?>\n<stream:stream xmlns='"+tt.ns+
				"' xmlns:stream='http://etherx.jabber.org/streams' to='voip.test' version='1.0'>")
			if h := <-got; h != (StreamHeader{To: "voip.test", NS: tt.ns}) {
				t.Errorf("header %+v", h)
			}
			b := make([]byte, len(tt.want))
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.ReadFull(c, b); err != nil || string(b) != tt.want {
				t.Errorf("read %q, %v; want %q", b, err, tt.want)
			}
		})
	}
}

// Anything but a stream header is hung up on, unanswered.
func TestXMPPNotAStream(t *testing.T) {
	c, err := net.Dial("tcp", TCP(t, XMPP(Features)).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "<html>")
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
		t.Errorf("read %q, %v; want a close without an answer", b, err)
	}
}

func TestStreamHeaderEscapes(t *testing.T) {
	h := streamHeader(StreamHeader{To: "a'b<c"})
	if !strings.Contains(h, "from='a&#39;b&lt;c'") || !strings.Contains(h, "xmlns='jabber:client'") {
		t.Errorf("header %s", h)
	}
}

// After <starttls/>, the fake answers as told; on Proceed, TLS follows on the same connection.
func TestXMPPStartTLS(t *testing.T) {
	cfg, err := SelfSigned("voip.test")
	if err != nil {
		t.Fatal(err)
	}
	const (
		feats   = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"
		failure = "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>"
	)
	header := streamHeader(StreamHeader{To: "voip.test", NS: "jabber:client"})
	for _, tt := range []struct {
		name, answer, send string
		tls                bool
	}{
		{name: "proceed", answer: Proceed, send: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", tls: true},
		{name: "failure", answer: failure, send: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"},
		{name: "no starttls", answer: Proceed, send: "<auth/>"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", TCP(t, XMPPStartTLS(feats, tt.answer, cfg)).String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			io.WriteString(c, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='voip.test'>")
			b := make([]byte, len(header+feats))
			if _, err := io.ReadFull(c, b); err != nil || string(b) != header+feats {
				t.Fatalf("read %q, %v; want header and features", b, err)
			}
			io.WriteString(c, tt.send)
			if tt.send == "<auth/>" {
				if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
					t.Errorf("read %q, %v; want a hang-up", b, err)
				}
				return
			}
			b = make([]byte, len(tt.answer))
			if _, err := io.ReadFull(c, b); err != nil || string(b) != tt.answer {
				t.Fatalf("read %q, %v; want %q", b, err, tt.answer)
			}
			if tt.tls {
				tc := tls.Client(c, &tls.Config{ServerName: "voip.test", InsecureSkipVerify: true})
				if err := tc.Handshake(); err != nil {
					t.Errorf("TLS handshake: %v", err)
				}
			}
		})
	}
}
