package testpeer

import (
	"bufio"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"
)

// options sends a minimal OPTIONS over TCP and returns the status line.
func options(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "OPTIONS sip:voip.test SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP " + c.LocalAddr().String() + ";branch=z9hG4bK-testpeer\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:t@voip.test>;tag=1\r\nTo: <sip:voip.test>\r\n" +
		"Call-ID: testpeer@localhost\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
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
	if got := options(t, k.UDPTCP.String()); got != "SIP/2.0 200 OK" {
		t.Fatalf("status line %q, want SIP/2.0 200 OK", got)
	}
	k.Stop()
	if k.Running() {
		t.Error("Running after Stop")
	}
	refused(t, k.UDPTCP.String())
	refused(t, k.TLS.String())
	k.Start()
	if got := options(t, k.UDPTCP.String()); got != "SIP/2.0 200 OK" {
		t.Fatalf("after restart: status line %q, want SIP/2.0 200 OK", got)
	}
	k.SetCode(503)
	if got := options(t, k.UDPTCP.String()); got != "SIP/2.0 503 Service Unavailable" {
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
