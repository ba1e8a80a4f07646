package probe

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/internal/fakepeer"
	"github.com/srvhealth/srvhealth/internal/testpeer"
)

var (
	xmppClient = Method{Kind: KindXMPPClient, Transport: TCP}
	xmppServer = Method{Kind: KindXMPPServer, Transport: TCP}
)

// Prosody's answers, as on the wire (README of the peers), and broken variants.
const (
	serverHeader = `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' ` +
		`xml:lang='en' from='voip.test' id='abc' version='1.0' xmlns='jabber:client'>`
	features    = `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`
	hostUnknown = `<stream:error><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>no such host</text>` +
		`<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`
)

// xmppFake reports the stream header the probe sent on got, if not nil, and answers with reply.
func xmppFake(got chan<- fakepeer.StreamHeader, reply string) func(net.Conn) {
	return fakepeer.XMPP(func(h fakepeer.StreamHeader) string {
		if got != nil {
			got <- h
		}
		return reply
	})
}

func TestXMPPFakes(t *testing.T) {
	tests := []struct {
		name, reply string
		up          bool
		reason      string
	}{
		{name: "features", reply: serverHeader + features, up: true},
		{name: "features after whitespace keep-alives", reply: serverHeader + "\n \n" + features, up: true},
		{name: "other prefix", up: true, reply: `<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client' version='1.0'>` +
			`<s:features/>`},
		{name: "host-unknown", reply: serverHeader + hostUnknown, reason: "stream error host-unknown"},
		{name: "error without condition", reply: serverHeader + `<stream:error></stream:error>`, reason: "stream error"},
		{name: "header only", reply: serverHeader, reason: "timeout"},
		{name: "nothing", reply: "", reason: "timeout"},
		{name: "garbage", reply: "SSH-2.0-OpenSSH_9.2\r\n", reason: "malformed reply"},
		{name: "HTML", reply: "<html><body>hello</body></html>", reason: "malformed reply"},
		{name: "features without stream", reply: features, reason: "malformed reply"},
		{name: "wrong stream namespace", reply: `<stream:stream xmlns:stream='urn:other' version='1.0'><stream:features/>`, reason: "malformed reply"},
		{name: "server namespace", reply: strings.Replace(serverHeader, "jabber:client", "jabber:server", 1) + features,
			reason: "stream namespace jabber:server, want jabber:client"},
		{name: "something else first", reply: serverHeader + `<message/>`, reason: "unexpected <message> before stream features"},
		{name: "endless whitespace", reply: serverHeader + strings.Repeat(" ", maxReply), reason: "reply too large"},
		{name: "bad XML", reply: serverHeader + `<stream:features><a></b>`, up: true}, // features seen first
		{name: "bad XML before features", reply: serverHeader + `</a>`, reason: "malformed reply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan fakepeer.StreamHeader, 1)
			addr := fakepeer.TCP(t, xmppFake(got, tt.reply))
			timeout := 2 * time.Second
			if tt.reason == "timeout" {
				timeout = 300 * time.Millisecond
			}
			r := mustNew(t, xmppClient, Options{}).Probe(probeCtx(t, timeout), Target{Addr: addr, Domain: "voip.test"})
			if r.Up != tt.up || r.Reason != tt.reason {
				t.Errorf("got up=%v reason %q, want up=%v reason %q", r.Up, r.Reason, tt.up, tt.reason)
			}
			if s := <-got; s != (fakepeer.StreamHeader{To: "voip.test", NS: "jabber:client"}) {
				t.Errorf("probe sent header %+v", s)
			}
		})
	}
}

func TestXMPPServerNamespace(t *testing.T) {
	got := make(chan fakepeer.StreamHeader, 1)
	addr := fakepeer.TCP(t, xmppFake(got, strings.Replace(serverHeader, "jabber:client", "jabber:server", 1)+features))
	r := mustNew(t, xmppServer, Options{}).Probe(probeCtx(t, 2*time.Second), Target{Addr: addr, Domain: "voip.test"})
	if !r.Up {
		t.Errorf("down: %s", r.Reason)
	}
	if s := <-got; s != (fakepeer.StreamHeader{To: "voip.test", NS: "jabber:server"}) {
		t.Errorf("probe sent header %+v", s)
	}
}

func TestXMPPRefusedAndClosed(t *testing.T) {
	r := mustNew(t, xmppClient, Options{}).Probe(probeCtx(t, time.Second), Target{Addr: fakepeer.ClosedPort(t), Domain: "voip.test"})
	if r.Up || r.Reason != "connection refused" {
		t.Errorf("closed port: got up=%v reason %q", r.Up, r.Reason)
	}
	addr := fakepeer.TCP(t, func(c net.Conn) {
		c.Read(make([]byte, 1024))
		io.WriteString(c, serverHeader)
	})
	r = mustNew(t, xmppClient, Options{}).Probe(probeCtx(t, time.Second), Target{Addr: addr, Domain: "voip.test"})
	if r.Up || r.Reason != "connection closed" {
		t.Errorf("hang-up after the header: got up=%v reason %q", r.Up, r.Reason)
	}
}

// XEP-0368: TLS first, with ALPN naming the stream type and SNI the service domain.
func TestXMPPDirectTLS(t *testing.T) {
	cert := testpeer.NewCert(t, testpeer.CertSpec{Names: []string{"voip.test"}})
	for _, kind := range []Kind{KindXMPPClient, KindXMPPServer} {
		t.Run(string(kind), func(t *testing.T) {
			hello := make(chan *tls.ClientHelloInfo, 1)
			cfg := &tls.Config{
				Certificates: []tls.Certificate{cert.TLS},
				GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
					hello <- hi
					return nil, nil
				},
			}
			got := make(chan fakepeer.StreamHeader, 1)
			h := xmppFake(got, strings.Replace(serverHeader, "jabber:client", "jabber:"+strings.TrimPrefix(string(kind), "xmpp-"), 1)+features)
			addr := fakepeer.TLS(t, cfg, h)
			r := mustNew(t, Method{Kind: kind, Transport: TLS}, Options{TLSVerify: true, RootCAs: cert.Pool}).
				Probe(probeCtx(t, 2*time.Second), Target{Addr: addr, Domain: "voip.test"})
			if !r.Up {
				t.Fatalf("down: %s", r.Reason)
			}
			if !r.CertNotAfter.Equal(cert.Leaf.NotAfter) {
				t.Errorf("CertNotAfter %v, want %v", r.CertNotAfter, cert.Leaf.NotAfter)
			}
			hi := <-hello
			if hi.ServerName != "voip.test" || len(hi.SupportedProtos) != 1 || hi.SupportedProtos[0] != string(kind) {
				t.Errorf("ClientHello SNI %q ALPN %q, want voip.test and [%s]", hi.ServerName, hi.SupportedProtos, kind)
			}
			if s := <-got; s.To != "voip.test" {
				t.Errorf("stream to %q", s.To)
			}
		})
	}
}

func TestStreamHeaderEscapes(t *testing.T) {
	h := streamHeader("jabber:client", "a'b<c")
	if !strings.Contains(h, "to='a&#39;b&lt;c'") {
		t.Errorf("header %s does not escape the domain", h)
	}
}

func FuzzXMPPStream(f *testing.F) {
	f.Add([]byte(serverHeader + features))
	f.Add([]byte(serverHeader + hostUnknown))
	f.Add([]byte(`<?xml version='1.0' encoding='latin1'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`))
	f.Add([]byte(`<s:stream xmlns:s='http://etherx.jabber.org/streams'><s:error><x xmlns='urn:ietf:params:xml:ns:xmpp-streams'>`))
	f.Add([]byte("<!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>"))
	f.Add([]byte("\x00\xff<"))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := readXMPPStream(strings.NewReader(string(b)), "jabber:client")
		if err == nil && !strings.Contains(string(b), "features") {
			t.Errorf("accepted a stream without features: %q", b)
		}
		if err != nil && reason(err) == "" {
			t.Errorf("empty reason for %v", err)
		}
	})
}

// What an XMPP server names in its reply (an attribute value, an element name) reaches the reason
// bounded and printable.
func TestXMPPHostileText(t *testing.T) {
	long := strings.Repeat("\u00e9", 40) // 40 runes, 80 bytes: %.40s counts runes
	for _, reply := range []string{
		strings.Replace(serverHeader, "jabber:client", "jabber:&#10;&#13;&#9;"+long+long, 1) + features,
		serverHeader + "<" + long + long + "/>",
		strings.Replace(serverHeader, "jabber:client", "jabber:\u202e"+long, 1) + features,
	} {
		addr := fakepeer.TCP(t, xmppFake(nil, reply))
		r := mustNew(t, xmppClient, Options{}).Probe(probeCtx(t, 2*time.Second), Target{Addr: addr, Domain: "voip.test"})
		if r.Up {
			t.Errorf("up on %q", reply)
		}
		checkPeerText(t, "reason", r.Reason)
	}
}

// Over plain TCP the certificate XMPP users see is behind STARTTLS: the probe reports its expiry without
// Details too, and what STARTTLS does never changes the verdict (issue 24 item 7).
func TestXMPPStartTLSCertExpiry(t *testing.T) {
	cert := testpeer.NewCert(t, testpeer.CertSpec{Names: []string{"voip.test"}})
	cfg := &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	const none = `<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`
	for _, tt := range []struct {
		name, feats, after string
		expiry             bool
	}{
		{"required", features, fakepeer.Proceed, true},
		{"none", none, "", false},
		{"failure", features, `<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, kind := range []Kind{KindXMPPClient, KindXMPPServer} {
				addr := fakepeer.TCP(t, fakepeer.XMPPStartTLS(tt.feats, tt.after, cfg))
				r := mustNew(t, Method{Kind: kind, Transport: TCP}, Options{}).Probe(probeCtx(t, 2*time.Second), Target{Addr: addr, Domain: "voip.test"})
				if !r.Up || r.Details != nil {
					t.Fatalf("%s: up=%v reason %q details %+v, want up without details", kind, r.Up, r.Reason, r.Details)
				}
				if want := cert.Leaf.NotAfter; tt.expiry != r.CertNotAfter.Equal(want) || !tt.expiry && !r.CertNotAfter.IsZero() {
					t.Errorf("%s: CertNotAfter %v, want %v: %v", kind, r.CertNotAfter, tt.expiry, want)
				}
			}
		})
	}
}
