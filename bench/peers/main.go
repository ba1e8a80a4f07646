// Command peers stands in for the SIP and XMPP servers of the benchmark: it listens on loopback addresses
// and answers the way srvhealth's probes expect a live server to, or, for the dead cases, does not.
//
// It reads a spec file with one listener per line, "KIND ADDR:PORT" ('#' starts a comment):
//
//	sip-udp    answers every SIP request over UDP with 200 OK (Via, From, To, Call-ID, CSeq copied)
//	sip-tcp    the same over TCP
//	sip-tls    the same over TLS (a self-signed certificate made at start-up)
//	xmpp       answers a stream header with its own header and <stream:features> (c2s or s2s: the
//	           namespace of the client's header is echoed)
//	xmpp-tls   the same over direct TLS (XEP-0368), offering the ALPN protocols xmpp-client and xmpp-server
//	tcp        accepts TCP connections and closes them
//	hung-tcp   accepts TCP connections and never reads or writes (a hung server: the worst case for clients)
//	hung-udp   binds a UDP port and never reads (datagrams vanish: no reply, no ICMP)
//	blackhole  a TCP listener that never accepts, with its one-slot accept queue filled by peers itself, so
//	           the kernel drops every new SYN and connects time out, as behind a firewall that drops
//
// A closed port needs no line: on loopback it refuses at once (TCP RST, ICMP port unreachable for UDP).
//
// It writes "ready" on stdout once every listener is open and runs until killed.
package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	spec := flag.String("spec", "", "spec file: one 'KIND ADDR:PORT' per line")
	flag.Parse()
	if *spec == "" {
		log.Fatal("peers: -spec is required")
	}
	f, err := os.Open(*spec)
	if err != nil {
		log.Fatal(err)
	}
	var tlsConf *tls.Config
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			log.Fatalf("peers: bad spec line %q", sc.Text())
		}
		kind, addr := fields[0], fields[1]
		if (kind == "sip-tls" || kind == "xmpp-tls") && tlsConf == nil {
			if tlsConf, err = selfSigned(); err != nil {
				log.Fatal(err)
			}
		}
		if err := listen(kind, addr, tlsConf); err != nil {
			log.Fatalf("peers: %s %s: %v", kind, addr, err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
	f.Close()
	fmt.Printf("ready %d listeners\n", n)
	select {}
}

func listen(kind, addr string, tlsConf *tls.Config) error {
	switch kind {
	case "sip-udp", "hung-udp":
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		if kind == "sip-udp" {
			go serveSIPUDP(c)
		}
		return nil
	case "blackhole":
		return blackhole(addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var handle func(net.Conn)
	switch kind {
	case "sip-tcp":
		handle = serveSIPStream
	case "sip-tls":
		l = tls.NewListener(l, tlsConf)
		handle = serveSIPStream
	case "xmpp":
		handle = serveXMPP
	case "xmpp-tls":
		l = tls.NewListener(l, tlsConf)
		handle = serveXMPP
	case "tcp":
		handle = func(c net.Conn) { c.Close() }
	case "hung-tcp":
		// Hold the connection without reading; the prober gives up at its timeout. Closed after a while
		// so that a long run does not pile up descriptors.
		handle = func(c net.Conn) { time.AfterFunc(30*time.Second, func() { c.Close() }) }
	default:
		l.Close()
		return fmt.Errorf("unknown kind %q", kind)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					continue
				}
				log.Printf("peers: accept %s: %v", addr, err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if kind == "tcp" {
				c.Close() // the common case of the probe-scale run: no goroutine per connection
				continue
			}
			go handle(c)
		}
	}()
	return nil
}

// blackhole opens a TCP listener with an accept queue of one, never accepts, and fills the queue with a
// connection of its own: from then on the kernel drops every SYN to it (the listen overflow path), so a
// connect gets no answer at all until the client's own timeout.
func blackhole(addr string) error {
	ap, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	sa := &syscall.SockaddrInet4{Port: ap.Port}
	copy(sa.Addr[:], ap.IP.To4())
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return err
	}
	if err := syscall.Listen(fd, 0); err != nil {
		syscall.Close(fd)
		return err
	}
	// With a backlog of 0 the queue holds one established connection; two fill it for sure. Kept open
	// (and the fd never closed) for the life of the process.
	for range 2 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		keep = append(keep, c)
	}
	return nil
}

var keep []net.Conn

// selfSigned makes a throwaway ECDSA certificate; the probes do not verify certificates by default.
func selfSigned() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "voip.test"},
		DNSNames:     []string{"voip.test", "*.voip.test", "scale.test", "*.scale.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos:   []string{"xmpp-client", "xmpp-server"},
	}, nil
}

func serveSIPUDP(c net.PacketConn) {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			log.Printf("peers: sip-udp: %v", err)
			return
		}
		if res := sipReply(buf[:n]); res != nil {
			c.WriteTo(res, from)
		}
	}
}

func serveSIPStream(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var msg []byte
		length := 0
		for {
			line, err := br.ReadBytes('\n')
			if err != nil {
				return
			}
			if len(msg) == 0 && (string(line) == "\r\n" || string(line) == "\n") {
				continue // keep-alive
			}
			msg = append(msg, line...)
			if k, v, ok := strings.Cut(string(line), ":"); ok {
				if name := strings.ToLower(strings.TrimSpace(k)); name == "content-length" || name == "l" {
					length, _ = strconv.Atoi(strings.TrimSpace(v))
				}
			}
			if string(line) == "\r\n" || string(line) == "\n" {
				break
			}
			if len(msg) > 64<<10 {
				return
			}
		}
		if length > 0 && length < 64<<10 {
			if _, err := io.CopyN(io.Discard, br, int64(length)); err != nil {
				return
			}
		}
		if res := sipReply(msg); res != nil {
			if _, err := c.Write(res); err != nil {
				return
			}
		}
	}
}

// sipReply builds "200 OK" to a request, copying the headers RFC 3261 section 8.2.6.2 says a response
// copies; it returns nil for anything that is not a request.
func sipReply(req []byte) []byte {
	head, _, _ := bytes.Cut(req, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	if len(lines) == 0 || !strings.HasSuffix(lines[0], " SIP/2.0") {
		return nil
	}
	var b strings.Builder
	b.WriteString("SIP/2.0 200 OK\r\n")
	for _, l := range lines[1:] {
		k, _, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "via", "v", "from", "f", "call-id", "i", "cseq":
			b.WriteString(l + "\r\n")
		case "to", "t":
			if !strings.Contains(l, ";tag=") {
				l += ";tag=peers1"
			}
			b.WriteString(l + "\r\n")
		}
	}
	b.WriteString("Allow: OPTIONS\r\nServer: srvhealth-bench-peer\r\nContent-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// serveXMPP reads the client's stream header and answers with a stream header and features, as a server
// that requires STARTTLS does (RFC 6120 section 4.3.2); then it waits for the client to hang up.
func serveXMPP(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	d := xml.NewDecoder(io.LimitReader(c, 64<<10))
	for {
		tok, err := d.Token()
		if err != nil {
			return
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local != "stream" {
			return
		}
		ns, to := "jabber:client", ""
		for _, a := range se.Attr {
			switch {
			case a.Name.Space == "" && a.Name.Local == "xmlns":
				ns = a.Value
			case a.Name.Local == "to":
				to = a.Value
			}
		}
		var b strings.Builder
		b.WriteString("<?xml version='1.0'?><stream:stream xmlns='")
		xml.EscapeText(&b, []byte(ns))
		b.WriteString("' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' id='peers1' from='")
		xml.EscapeText(&b, []byte(to))
		b.WriteString("'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>")
		if _, err := io.WriteString(c, b.String()); err != nil {
			return
		}
		io.Copy(io.Discard, c)
		return
	}
}
