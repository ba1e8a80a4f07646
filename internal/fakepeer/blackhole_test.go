package fakepeer

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// A blackhole neither accepts nor refuses: a connect times out. Once closed, the port refuses.
func TestBlackhole(t *testing.T) {
	s, err := ListenBlackhole(loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 3 { // every connect, not only the first after the queue filled
		start := time.Now()
		c, err := net.DialTimeout("tcp", s.Addr().String(), 300*time.Millisecond)
		if err == nil {
			c.Close()
			t.Fatal("connected to a blackhole")
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("dial: %v, want a timeout", err)
		}
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Errorf("dial failed after %v, want the full timeout", d)
		}
	}
	s.Close()
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after Close: %v, want refused", err)
	}
}

func TestBlackholeIPv6(t *testing.T) {
	s, err := ListenBlackhole("[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Addr().Addr().Is6() || s.Addr().Port() == 0 {
		t.Errorf("Addr %v, want ::1 and a port", s.Addr())
	}
	if c, err := net.DialTimeout("tcp", s.Addr().String(), 300*time.Millisecond); err == nil {
		c.Close()
		t.Error("connected to a blackhole")
	}
}
