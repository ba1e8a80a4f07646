package fakepeer

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Every test closes its fakes; goleak proves that closing leaves no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func dial(t *testing.T, ap netip.AddrPort) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", ap.String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readErr reads from c until an error or d passes and returns the error.
func readErr(c net.Conn, d time.Duration) error {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if err == nil {
		return io.EOF
	}
	return err
}

func TestTCPNilHandleHangsUp(t *testing.T) {
	c := dial(t, TCP(t, nil))
	if err := readErr(c, 2*time.Second); err != io.EOF {
		t.Errorf("read: %v, want EOF at once", err)
	}
}

func TestSilentUntilClose(t *testing.T) {
	var ended atomic.Bool
	s, err := ListenTCP(loopback, func(c net.Conn) {
		Silent(c)
		time.Sleep(50 * time.Millisecond) // a handler slow to wind up: Close waits for it
		ended.Store(true)
	})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.Addr())
	if _, err := c.Write([]byte("OPTIONS sip:x SIP/2.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := readErr(c, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want no answer (a timeout)", err)
	}
	s.Close()
	if !ended.Load() {
		t.Error("Close returned before the handler")
	}
	if err := readErr(c, 2*time.Second); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read after Close: %v, want the connection closed", err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after Close: %v, want refused", err)
	}
}

func TestTLS(t *testing.T) {
	ap := TLS(t, nil, func(c net.Conn) { io.WriteString(c, "hello") })
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", ap.String(),
		&tls.Config{ServerName: "voip.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if cs := c.ConnectionState(); cs.PeerCertificates[0].VerifyHostname("voip.test") != nil {
		t.Errorf("certificate names %v, want voip.test", cs.PeerCertificates[0].DNSNames)
	}
	if b, err := io.ReadAll(c); string(b) != "hello" {
		t.Errorf("read %q, %v; want the handler's hello and a close", b, err)
	}
}

func TestUDP(t *testing.T) {
	echo := UDP(t, func(req []byte, reply func([]byte)) { reply(append([]byte("re: "), req...)) })
	mute := UDP(t, nil)
	for _, tt := range []struct {
		addr netip.AddrPort
		want string // "" for no answer
	}{{echo, "re: ping"}, {mute, ""}} {
		c, err := net.Dial("udp", tt.addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		b := make([]byte, 100)
		n, err := c.Read(b)
		if tt.want == "" && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%v: read %q, %v; want no answer", tt.addr, b[:n], err)
		}
		if tt.want != "" && string(b[:n]) != tt.want {
			t.Errorf("%v: read %q, %v; want %q", tt.addr, b[:n], err, tt.want)
		}
	}
}

func TestClosedPort(t *testing.T) {
	if _, err := net.DialTimeout("tcp", ClosedPort(t).String(), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial: %v, want refused", err)
	}
}

func TestListenErrors(t *testing.T) {
	ap := TCP(t, nil)
	if s, err := ListenTCP(ap.String(), nil); err == nil {
		s.Close()
		t.Error("ListenTCP on a port in use succeeded")
	}
	if _, err := ListenBlackhole(ap.String()); err == nil {
		t.Error("ListenBlackhole on a port in use succeeded")
	}
	if _, err := ListenUDP("127.0.0.1:x", nil); err == nil {
		t.Error("ListenUDP on a bad address succeeded")
	}
}
