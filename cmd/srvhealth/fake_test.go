package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The fakes in this file are in-process servers on loopback: authoritative DNS servers that answer from
// a zone text (and can be made lame), and SIP and XMPP servers that answer, hang, or present a chosen
// certificate. Each stops when its test ends.

// zoneData answers questions from a zone's records, as an authoritative server does.
type zoneData struct {
	origin string
	names  map[string][]dns.RR
}

func parseZone(t testing.TB, text string) *zoneData {
	t.Helper()
	z := &zoneData{names: map[string][]dns.RR{}}
	zp := dns.NewZoneParser(strings.NewReader(text), "", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		n := strings.ToLower(rr.Header().Name)
		z.names[n] = append(z.names[n], rr)
		if _, ok := rr.(*dns.SOA); ok {
			z.origin = n
		}
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("fake zone: %v", err)
	}
	return z
}

// answer fills m with the answer to q: the records, an alias and what it leads to within the zone,
// NXDOMAIN or NODATA with the SOA, glue for NS records.
func (z *zoneData) answer(m *dns.Msg, q dns.Question) {
	name := strings.ToLower(q.Name)
	if !dns.IsSubDomain(z.origin, name) {
		m.Rcode = dns.RcodeRefused
		return
	}
	m.Authoritative = true
	for range 8 {
		rrs, ok := z.names[name]
		if !ok {
			if len(m.Answer) == 0 && !z.hasBelow(name) {
				m.Rcode = dns.RcodeNameError
			}
			break
		}
		var next string
		for _, rr := range rrs {
			switch {
			case rr.Header().Rrtype == q.Qtype:
				m.Answer = append(m.Answer, rr)
			case rr.Header().Rrtype == dns.TypeCNAME:
				m.Answer = append(m.Answer, rr)
				next = strings.ToLower(rr.(*dns.CNAME).Target)
			}
		}
		if next == "" || !dns.IsSubDomain(z.origin, next) {
			break
		}
		name = next
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, z.names[z.origin][0]) // the SOA comes first in our zones
	}
	for _, rr := range m.Answer {
		if ns, ok := rr.(*dns.NS); ok {
			for _, g := range z.names[strings.ToLower(ns.Ns)] {
				if g.Header().Rrtype == dns.TypeA || g.Header().Rrtype == dns.TypeAAAA {
					m.Extra = append(m.Extra, g)
				}
			}
		}
	}
}

func (z *zoneData) hasBelow(name string) bool {
	for n := range z.names {
		if strings.HasSuffix(n, "."+name) {
			return true
		}
	}
	return false
}

// nsMode is how a fake DNS server behaves.
type nsMode int

const (
	nsGood   nsMode = iota
	nsLame          // answers without the AA flag, as a resolver listed as authoritative does
	nsSilent        // reads questions and never answers
)

// startNS starts fake DNS servers, one per zone text, on 127.0.60.1, 127.0.60.2... all on one port,
// as the authoritative servers of a zone are. It returns the port.
func startNS(t testing.TB, modes []nsMode, zones ...string) int {
	t.Helper()
	for range 20 {
		port := 0
		var pcs []net.PacketConn
		var ls []net.Listener
		ok := true
		for i := range zones {
			ip := "127.0.60." + strconv.Itoa(i+1)
			pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			pcs = append(pcs, pc)
			port = pc.LocalAddr().(*net.UDPAddr).Port
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		if !ok {
			for _, pc := range pcs {
				pc.Close()
			}
			for _, l := range ls {
				l.Close()
			}
			continue
		}
		for i, text := range zones {
			z := parseZone(t, text)
			mode := nsGood
			if i < len(modes) {
				mode = modes[i]
			}
			h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
				if mode == nsSilent {
					return
				}
				m := new(dns.Msg)
				m.SetReply(r)
				z.answer(m, r.Question[0])
				if mode == nsLame {
					m.Authoritative = false
				}
				w.WriteMsg(m)
			})
			for _, s := range []*dns.Server{{PacketConn: pcs[i], Handler: h}, {Listener: ls[i], Handler: h}} {
				started := make(chan struct{})
				s.NotifyStartedFunc = func() { close(started) }
				go s.ActivateAndServe()
				<-started
				t.Cleanup(func() { s.Shutdown() })
			}
		}
		return port
	}
	t.Fatal("no port free on every fake name server address")
	return 0
}

// tracker closes a fake's connections and waits for its goroutines when the test ends.
type tracker struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []io.Closer
}

func (tr *tracker) add(c io.Closer) {
	tr.mu.Lock()
	tr.conns = append(tr.conns, c)
	tr.mu.Unlock()
}

func (tr *tracker) close() {
	tr.mu.Lock()
	for _, c := range tr.conns {
		c.Close()
	}
	tr.mu.Unlock()
	tr.wg.Wait()
}

// serveTCP accepts on ip and runs handle for each connection; it returns the port.
func serveTCP(t testing.TB, ip string, handle func(net.Conn)) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &tracker{}
	tr.add(l)
	tr.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tr.add(c)
			tr.wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				handle(c)
			})
		}
	})
	t.Cleanup(tr.close)
	return l.Addr().(*net.TCPAddr).Port
}

// serveUDP calls handle for each datagram on ip; it returns the port.
func serveUDP(t testing.TB, ip string, handle func(req []byte) []byte) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &tracker{}
	tr.add(pc)
	tr.wg.Go(func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := handle(append([]byte(nil), buf[:n]...)); out != nil {
				pc.WriteTo(out, from)
			}
		}
	})
	t.Cleanup(tr.close)
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// silent reads until the connection ends and never answers: the hung server.
func silent(c net.Conn) { io.Copy(io.Discard, c) }

// sipAnswer is a SIP response to req with status and a Server header.
func sipAnswer(req []byte, status string) []byte {
	var b bytes.Buffer
	b.WriteString("SIP/2.0 " + status + "\r\n")
	for _, l := range strings.Split(string(req), "\r\n")[1:] {
		k, _, ok := strings.Cut(l, ":")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "via", "from", "to", "call-id", "cseq":
			if ok {
				b.WriteString(l + "\r\n")
			}
		}
	}
	b.WriteString("Server: FakeSIP/1.0\r\nContent-Length: 0\r\n\r\n")
	return b.Bytes()
}

// sipUDP answers OPTIONS over UDP with status; an empty status never answers.
func sipUDP(t testing.TB, ip, status string) int {
	return serveUDP(t, ip, func(req []byte) []byte {
		if status == "" {
			return nil
		}
		return sipAnswer(req, status)
	})
}

// sipStream answers OPTIONS over TCP, or over TLS with cfg, with status.
func sipStream(t testing.TB, ip, status string, cfg *tls.Config) int {
	return serveTCP(t, ip, func(c net.Conn) {
		if cfg != nil {
			tc := tls.Server(c, cfg)
			if tc.Handshake() != nil {
				return
			}
			c = tc
		}
		br := bufio.NewReader(c)
		for {
			var req bytes.Buffer
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				req.WriteString(line)
				if line == "\r\n" {
					break
				}
			}
			c.Write(sipAnswer(req.Bytes(), status))
		}
	})
}

// xmppServer is a fake XMPP server: it answers the stream header in namespace ns with features that
// offer STARTTLS (required or not) or not at all, and goes on to TLS with cfg when asked. With direct,
// TLS comes first (XEP-0368).
type xmppServer struct {
	ns       string // "jabber:client" or "jabber:server"
	startTLS string // "", "offered", "required"
	cfg      *tls.Config
	direct   bool
}

func (x xmppServer) serve(t testing.TB, ip string) int {
	return serveTCP(t, ip, func(c net.Conn) {
		if x.direct {
			cfg := x.cfg.Clone()
			cfg.NextProtos = []string{"xmpp-client", "xmpp-server"} // XEP-0368
			tc := tls.Server(c, cfg)
			if tc.Handshake() != nil {
				return
			}
			c = tc
		}
		d := xml.NewDecoder(c)
		opened := false
		for {
			tok, err := d.RawToken()
			if err != nil {
				return
			}
			se, ok := tok.(xml.StartElement)
			if !ok {
				continue
			}
			if !opened {
				opened = true
				feats := ""
				switch x.startTLS {
				case "offered":
					feats = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
				case "required":
					feats = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
				}
				fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='%s' from='voip.test' id='x' version='1.0'><stream:features>%s</stream:features>", x.ns, feats)
				continue
			}
			if se.Name.Local == "starttls" {
				io.WriteString(c, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
				tls.Server(c, x.cfg).Handshake()
			}
			silent(c)
			return
		}
	})
}
