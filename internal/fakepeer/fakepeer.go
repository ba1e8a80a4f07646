// Package fakepeer runs in-process stand-ins for SIP and XMPP servers on loopback, and for the ways a
// server fails: silent after accepting, refusing, blackholed. Probe tests use them to drive each probe
// through every answer a server can give; bench/peers serves them to CoreDNS during the benchmark.
//
// Each kind of fake comes twice: ListenX(addr, ...) opens it on addr and returns a Server to Close, for
// programs; X(t, ...) opens it on a free port of 127.0.0.1 and closes it when the test ends. Closing a
// Server closes its connections and waits for its goroutines.
//
// The package never imports probe: probe's tests import it, and a fake that shared code with the
// prober would agree with it by construction.
package fakepeer

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/netip"
	"sync"
	"time"
)

// IdleTimeout is how long a fake keeps a connection on which nothing arrives, so that a long benchmark
// does not pile up connections whose client went away. It is far above any probe's timeout.
const IdleTimeout = 30 * time.Second

// maxMessage bounds what a fake reads from one request, as the probes bound replies.
const maxMessage = 64 << 10

// loopback is where the fakes of a test listen.
const loopback = "127.0.0.1:0"

// TB is the part of testing.TB the fakes use; *testing.T and *testing.B satisfy it, and programs need
// not import testing.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Server is a running fake.
type Server struct {
	addr  netip.AddrPort
	stop  func() error // closes the listening socket
	wg    sync.WaitGroup
	once  sync.Once
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
}

func newServer(addr netip.AddrPort, stop func() error) *Server {
	return &Server{addr: netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()), stop: stop, conns: map[net.Conn]struct{}{}}
}

// Addr is the address the fake listens on.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Close stops listening, closes every open connection and waits until the fake's goroutines have ended.
func (s *Server) Close() {
	s.once.Do(func() {
		s.stop()
		s.mu.Lock()
		s.done = true
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// track records c so that Close can close it; false when the server is closing already.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// ListenTCP accepts TCP connections on addr and runs handle for each, in a goroutine of its own, closing
// the connection when handle returns. A nil handle closes each connection at once, without a goroutine
// (a port that accepts, all a TCP probe asks, at the lowest cost for thousands of them).
func ListenTCP(addr string, handle func(net.Conn)) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return serveStream(l, handle), nil
}

func serveStream(l net.Listener, handle func(net.Conn)) *Server {
	s := newServer(l.Addr().(*net.TCPAddr).AddrPort(), l.Close)
	s.wg.Go(func() {
		backoff := 5 * time.Millisecond
		for {
			c, err := l.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				// Most likely out of descriptors in a long benchmark: back off as net/http does, and go on.
				log.Printf("fakepeer: accept on %s: %v", s.addr, err)
				time.Sleep(backoff)
				backoff = min(2*backoff, time.Second)
				continue
			}
			backoff = 5 * time.Millisecond
			if handle == nil || !s.track(c) {
				c.Close()
				continue
			}
			s.wg.Go(func() {
				defer s.untrack(c)
				defer c.Close()
				handle(c)
			})
		}
	})
	return s
}

// ListenTLS accepts TLS connections on addr with cfg and runs handle for each once the handshake is done;
// handle gets the *tls.Conn. A nil cfg serves a self-signed certificate for voip.test (the probes do
// not verify certificates unless told to); a nil handle hangs up after the handshake.
func ListenTLS(addr string, cfg *tls.Config, handle func(net.Conn)) (*Server, error) {
	if cfg == nil {
		var err error
		if cfg, err = SelfSigned("voip.test"); err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return serveStream(l, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		tc.SetDeadline(time.Now().Add(IdleTimeout))
		if tc.Handshake() != nil {
			return
		}
		tc.SetDeadline(time.Time{})
		if handle != nil {
			handle(tc)
		}
	}), nil
}

// ListenUDP binds addr and calls handle for each datagram, one at a time, in arrival order; handle
// answers the sender through reply. A nil handle never answers: datagrams vanish, with no ICMP error,
// as at a hung server.
func ListenUDP(addr string, handle func(req []byte, reply func([]byte))) (*Server, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	s := newServer(pc.LocalAddr().(*net.UDPAddr).AddrPort(), pc.Close)
	s.wg.Go(func() {
		buf := make([]byte, maxMessage)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					log.Printf("fakepeer: read on %s: %v", s.addr, err)
				}
				return
			}
			if handle != nil {
				handle(append([]byte(nil), buf[:n]...), func(b []byte) { pc.WriteTo(b, from) })
			}
		}
	})
	return s, nil
}

// Silent holds a connection without ever answering, until either side closes it or nothing has arrived
// for IdleTimeout: a hung server, which only the client's own timeout gets it away from.
func Silent(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(IdleTimeout))
	io.Copy(io.Discard, c)
}

// TCP is ListenTCP on a free port of 127.0.0.1, closed when the test ends.
func TCP(t TB, handle func(net.Conn)) netip.AddrPort {
	t.Helper()
	s, err := ListenTCP(loopback, handle)
	return started(t, s, err)
}

// TLS is ListenTLS on a free port of 127.0.0.1, closed when the test ends.
func TLS(t TB, cfg *tls.Config, handle func(net.Conn)) netip.AddrPort {
	t.Helper()
	s, err := ListenTLS(loopback, cfg, handle)
	return started(t, s, err)
}

// UDP is ListenUDP on a free port of 127.0.0.1, closed when the test ends.
func UDP(t TB, handle func(req []byte, reply func([]byte))) netip.AddrPort {
	t.Helper()
	s, err := ListenUDP(loopback, handle)
	return started(t, s, err)
}

// ClosedPort returns an address of 127.0.0.1 where nothing listens: a connect there is refused at once
// (TCP RST), a datagram draws an ICMP port unreachable.
func ClosedPort(t TB) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", loopback)
	if err != nil {
		t.Fatalf("fakepeer: %v", err)
	}
	ap := l.Addr().(*net.TCPAddr).AddrPort()
	l.Close()
	return ap
}

func started(t TB, s *Server, err error) netip.AddrPort {
	t.Helper()
	if err != nil {
		t.Fatalf("fakepeer: %v", err)
	}
	t.Cleanup(s.Close)
	return s.Addr()
}
