package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fakes in this file are servers on 127.0.0.1 that misbehave on purpose. Each runs until the test
// ends; cleanup closes its listener and connections and waits for its goroutines.

// probeCtx bounds a probe the way the monitor does.
func probeCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustNew(t *testing.T, m Method, opts Options) Prober {
	t.Helper()
	p, err := New(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// server tracks a fake's goroutines and connections.
type server struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func (s *server) track(c net.Conn) {
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.mu.Unlock()
}

func (s *server) close() {
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// streamServer accepts on l and runs handle for each connection.
func streamServer(t *testing.T, l net.Listener, handle func(net.Conn)) netip.AddrPort {
	t.Helper()
	s := &server{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.track(c)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); s.close() })
	return l.Addr().(*net.TCPAddr).AddrPort()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// tcpServer runs handle for each TCP connection.
func tcpServer(t *testing.T, handle func(net.Conn)) netip.AddrPort {
	return streamServer(t, listen(t), handle)
}

// tlsServer runs handle for each TLS connection, after the handshake, with cfg.
func tlsServer(t *testing.T, cfg *tls.Config, handle func(*tls.Conn)) netip.AddrPort {
	return streamServer(t, listen(t), func(c net.Conn) {
		tc := tls.Server(c, cfg)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		c.SetDeadline(time.Time{})
		handle(tc)
	})
}

// udpServer calls handle for each datagram; handle answers through reply.
func udpServer(t *testing.T, handle func(req []byte, reply func([]byte))) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			handle(append([]byte(nil), buf[:n]...), func(b []byte) { pc.WriteTo(b, from) })
		}
	}()
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// closedPort returns an address where nothing listens, TCP or UDP.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	l := listen(t)
	ap := l.Addr().(*net.TCPAddr).AddrPort()
	l.Close()
	return ap
}

// silent waits without answering until the connection is closed by either side.
func silent(c net.Conn) {
	var b [1]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			return
		}
	}
}

// readRequest reads one SIP request's headers from a stream (the probe sends no body).
func readRequest(r *bufio.Reader) ([]byte, error) {
	var b []byte
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		b = append(b, line...)
		if line == "\r\n" {
			return b, nil
		}
	}
}

// header returns the first value of a header in a SIP message.
func header(msg []byte, name string) string {
	for _, l := range strings.Split(string(msg), "\r\n")[1:] {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// reply builds a response to req: status, then the headers a UAS copies (RFC 3261 section 8.2.6.2),
// with override replacing any of them ("Call-ID": "other"), then extra lines and an empty body.
func reply(req []byte, status string, override map[string]string, extra ...string) []byte {
	var b strings.Builder
	b.WriteString("SIP/2.0 " + status + "\r\n")
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		v := header(req, h)
		if o, ok := override[h]; ok {
			v = o
		}
		if h == "To" && !strings.Contains(v, "tag=") {
			v += ";tag=fake"
		}
		b.WriteString(h + ": " + v + "\r\n")
	}
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	if len(extra) == 0 || !strings.Contains(strings.Join(extra, "\n"), "Content-Length") {
		b.WriteString("Content-Length: 0\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// sipStream answers each request on a TCP or TLS connection with what respond returns.
func sipStream(respond func(req []byte) [][]byte) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := readRequest(br)
			if err != nil {
				return
			}
			for _, m := range respond(req) {
				if _, err := c.Write(m); err != nil {
					return
				}
			}
		}
	}
}
