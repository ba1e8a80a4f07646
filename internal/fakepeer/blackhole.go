package fakepeer

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ListenBlackhole opens a TCP socket on addr that listens but never accepts, and fills its accept queue
// with connections of its own: from then on the kernel drops every SYN to it (the listen-overflow path),
// so a connect gets no answer at all until the client's own timeout, as behind a firewall that drops.
func ListenBlackhole(addr string) (*Server, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	ap := ta.AddrPort()
	family, sa := syscall.AF_INET6, syscall.Sockaddr(&syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()})
	if ap.Addr().Unmap().Is4() {
		family, sa = syscall.AF_INET, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd)
	// A fixed address of a benchmark may still have connections in TIME_WAIT from the last run.
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	// A backlog of 0 leaves room for one connection: Linux drops SYNs once the queue holds more than the
	// backlog.
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("listen tcp %s: %w", addr, err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("listen tcp %s: %w", addr, err)
	}
	if bound, err := syscall.Getsockname(fd); err == nil {
		switch b := bound.(type) {
		case *syscall.SockaddrInet4:
			ap = netip.AddrPortFrom(netip.AddrFrom4(b.Addr), uint16(b.Port))
		case *syscall.SockaddrInet6:
			ap = netip.AddrPortFrom(netip.AddrFrom16(b.Addr), uint16(b.Port))
		}
	}
	s := newServer(ap, func() error { return syscall.Close(fd) })
	if err := s.fill(); err != nil {
		s.Close()
		return nil, fmt.Errorf("blackhole %s: %w", addr, err)
	}
	return s, nil
}

// fill connects to the socket until a connect goes unanswered: the queue is full. On loopback a SYN is
// answered within the connect call, so a short wait tells a full queue from a slow one.
func (s *Server) fill() error {
	wait := time.Second // the first must connect
	for range 4 {
		c, err := net.DialTimeout("tcp", s.addr.String(), wait)
		var ne net.Error
		if err != nil && wait < time.Second && errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		if err != nil {
			return err
		}
		s.track(c)
		wait = 100 * time.Millisecond
	}
	return errors.New("the accept queue does not fill")
}

// Blackhole is ListenBlackhole on a free port of 127.0.0.1, closed when the test ends.
func Blackhole(t TB) netip.AddrPort {
	t.Helper()
	s, err := ListenBlackhole(loopback)
	return started(t, s, err)
}
