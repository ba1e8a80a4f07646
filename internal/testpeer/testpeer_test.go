package testpeer

import (
	"bufio"
	"crypto/rand"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// options sends a minimal OPTIONS for uri over TCP and returns the status line.
func options(t *testing.T, addr, uri string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return exchange(t, c, "TCP", uri)
}

// optionsUDP is options over UDP.
func optionsUDP(t *testing.T, addr, uri string) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return exchange(t, c, "UDP", uri)
}

func exchange(t *testing.T, c net.Conn, transport, uri string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "OPTIONS " + uri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/" + transport + " " + c.LocalAddr().String() + ";branch=z9hG4bK-" + rand.Text() + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:t@voip.test>;tag=1\r\nTo: <" + uri + ">\r\n" +
		"Call-ID: " + rand.Text() + "@localhost\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func refused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s still accepts after Stop", addr)
	}
}

func TestKamailioStopStartSetCode(t *testing.T) {
	k := Kamailio(t, KamailioConfig{})
	if got := options(t, k.UDPTCP.String(), "sip:voip.test"); got != "SIP/2.0 200 OK" {
		t.Fatalf("status line %q, want SIP/2.0 200 OK", got)
	}
	k.Stop()
	if k.Running() {
		t.Error("Running after Stop")
	}
	refused(t, k.UDPTCP.String())
	refused(t, k.TLS.String())
	k.Start()
	if got := options(t, k.UDPTCP.String(), "sip:voip.test"); got != "SIP/2.0 200 OK" {
		t.Fatalf("after restart: status line %q, want SIP/2.0 200 OK", got)
	}
	k.SetCode(503)
	if got := options(t, k.UDPTCP.String(), "sip:voip.test"); got != "SIP/2.0 503 Service Unavailable" {
		t.Fatalf("after SetCode(503): status line %q", got)
	}
}

func TestProsodyStopStart(t *testing.T) {
	p := Prosody(t, ProsodyConfig{})
	if !p.Running() {
		t.Fatal("not running after start")
	}
	p.Stop()
	for _, a := range []string{p.C2S.String(), p.S2S.String(), p.DirectTLS.String()} {
		refused(t, a)
	}
	p.Start()
	c, err := net.DialTimeout("tcp", p.C2S.String(), 2*time.Second)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	c.Close()
}

func TestEjabberdStopStart(t *testing.T) {
	e := Ejabberd(t, EjabberdConfig{})
	if got := streamFeatures(t, e.C2S.String(), "jabber:client", e.Domain); !strings.Contains(got, "<starttls") {
		t.Fatalf("c2s answered %q, want stream features offering starttls", got)
	}
	if pids := epmdsOf(t, e.Dir); len(pids) > 0 {
		t.Errorf("ejabberd started epmd (pids %v), which outlives it", pids)
	}
	e.Stop()
	for _, a := range []string{e.C2S.String(), e.S2S.String(), e.DirectTLS.String(), e.S2SDirectTLS.String()} {
		refused(t, a)
	}
	e.Start()
	if got := streamFeatures(t, e.S2S.String(), "jabber:server", e.Domain); !strings.Contains(got, "<stream:features") {
		t.Fatalf("after restart: s2s answered %q, want stream features", got)
	}
}

// streamFeatures is xmppFeatures within 5 s, failing the test on an error.
func streamFeatures(t *testing.T, addr, ns, domain string) string {
	t.Helper()
	got, err := xmppFeatures(addr, ns, domain, time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatalf("stream to %s at %s: %v", domain, addr, err)
	}
	return got
}

// epmdsOf returns the pids of epmd processes started from a peer whose HOME is dir. An Erlang VM given a
// node name starts epmd as a daemon, with the VM's environment, outside the peer's process group.
func epmdsOf(t *testing.T, dir string) []string {
	t.Helper()
	comms, err := filepath.Glob("/proc/[0-9]*/comm")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, c := range comms {
		if b, err := os.ReadFile(c); err != nil || strings.TrimSpace(string(b)) != "epmd" {
			continue
		}
		env, err := os.ReadFile(filepath.Join(filepath.Dir(c), "environ"))
		if err != nil {
			continue // gone, or not ours to read
		}
		if slices.Contains(strings.Split(string(env), "\x00"), "HOME="+dir) {
			pids = append(pids, filepath.Base(filepath.Dir(c)))
		}
	}
	return pids
}

func TestBaresipStopStart(t *testing.T) {
	b := Baresip(t, BaresipConfig{})
	// The account's address gets 200 OK; any other request URI 404, from the same SIP stack.
	for _, tt := range []struct{ uri, want string }{
		{b.AOR, "SIP/2.0 200 OK"},
		{"sip:" + b.Domain, "SIP/2.0 404 Not Found"},
	} {
		if got := optionsUDP(t, b.UDPTCP.String(), tt.uri); got != tt.want {
			t.Errorf("UDP OPTIONS %s: status line %q, want %q", tt.uri, got, tt.want)
		}
		if got := options(t, b.UDPTCP.String(), tt.uri); got != tt.want {
			t.Errorf("TCP OPTIONS %s: status line %q, want %q", tt.uri, got, tt.want)
		}
	}
	b.Stop()
	if b.Running() {
		t.Error("Running after Stop")
	}
	refused(t, b.UDPTCP.String())
	refused(t, b.TLS.String())
	b.Start()
	if got := options(t, b.UDPTCP.String(), b.AOR); got != "SIP/2.0 200 OK" {
		t.Fatalf("after restart: status line %q, want SIP/2.0 200 OK", got)
	}
}

func TestNewCertVerifies(t *testing.T) {
	c := NewCert(t, CertSpec{Names: []string{"voip.test", "127.0.0.1"}})
	for _, name := range []string{"voip.test", "127.0.0.1"} {
		if _, err := c.Leaf.Verify(x509Opts(c, name)); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := c.Leaf.Verify(x509Opts(c, "other.test")); err == nil {
		t.Error("verified for a name not in the certificate")
	}
}

func x509Opts(c *Cert, name string) x509.VerifyOptions {
	return x509.VerifyOptions{DNSName: name, Roots: c.Pool}
}
