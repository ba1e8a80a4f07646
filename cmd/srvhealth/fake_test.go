package main

import (
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/internal/fakepeer"
)

// The fakes in this file are in-process servers on loopback: authoritative DNS servers that answer from
// a zone text (and can be made lame), and the SIP and XMPP servers of internal/fakepeer, which answer,
// hang, or present a chosen certificate, on the address of a target. Each stops when its test ends.

// zoneData answers questions from a zone's records, as an authoritative server does; a text with several
// SOA records holds several zones, and each question is answered from the closest.
type zoneData struct {
	origin  string
	origins []string
	names   map[string][]dns.RR
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
			z.origins = append(z.origins, n)
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
	for _, o := range z.origins {
		if dns.IsSubDomain(o, name) && (!dns.IsSubDomain(z.origin, name) || len(o) > len(z.origin)) {
			zz := *z
			zz.origin = o
			z = &zz
		}
	}
	if !dns.IsSubDomain(z.origin, name) {
		m.Rcode = dns.RcodeRefused
		return
	}
	if cut := z.cut(name); cut != "" {
		// A referral (RFC 1034 section 4.3.2): the child's NS records and their glue, without AA.
		for _, rr := range z.names[cut] {
			if ns, ok := rr.(*dns.NS); ok {
				m.Ns = append(m.Ns, ns)
				for _, g := range z.names[strings.ToLower(ns.Ns)] {
					if g.Header().Rrtype == dns.TypeA || g.Header().Rrtype == dns.TypeAAAA {
						m.Extra = append(m.Extra, g)
					}
				}
			}
		}
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

// cut returns the delegated child zone at or above name (an owner of NS records below the origin), or
// "" when the zone itself holds name.
func (z *zoneData) cut(name string) string {
	for n := name; n != z.origin && dns.IsSubDomain(z.origin, n); {
		for _, rr := range z.names[n] {
			if rr.Header().Rrtype == dns.TypeNS {
				return n
			}
		}
		i, end := dns.NextLabel(n, 0)
		if end {
			break
		}
		n = n[i:]
	}
	return ""
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
	return startNSWith(t, modes, nil, zones...)
}

// nsFilter rewrites a fake server's answer m to q, made from its zone z: a srvhealth in front of the zone.
type nsFilter func(z *zoneData, q dns.Question, m *dns.Msg)

// startNSWith is startNS with a filter for each server (nil: none).
func startNSWith(t testing.TB, modes []nsMode, filters []nsFilter, zones ...string) int {
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
				if i < len(filters) && filters[i] != nil {
					filters[i](z, r.Question[0], m)
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

// fake starts a SIP or XMPP server on addr (a target's loopback address with port 0); env.service runs
// it for each target and stops it when the test ends.
type fake func(addr string) (*fakepeer.Server, error)

// sipServer is the Server header of the SIP fakes, which srvhealth check reports.
const sipServer = "Server: FakeSIP/1.0"

// sipUDP answers OPTIONS over UDP with status; an empty status never answers.
func sipUDP(status string) fake {
	return func(addr string) (*fakepeer.Server, error) {
		if status == "" {
			return fakepeer.ListenUDP(addr, nil)
		}
		return fakepeer.ListenUDP(addr, fakepeer.SIPPacket(fakepeer.Answer(status, sipServer)))
	}
}

// sipTCP answers OPTIONS over TCP with status.
func sipTCP(status string) fake {
	return func(addr string) (*fakepeer.Server, error) {
		return fakepeer.ListenTCP(addr, fakepeer.SIPStream(fakepeer.Answer(status, sipServer)))
	}
}

// sipTLS answers OPTIONS over TLS with cfg with status.
func sipTLS(status string, cfg *tls.Config) fake {
	return func(addr string) (*fakepeer.Server, error) {
		return fakepeer.ListenTLS(addr, cfg, fakepeer.SIPStream(fakepeer.Answer(status, sipServer)))
	}
}

// silent accepts TCP connections and never answers: the hung server.
func silent(addr string) (*fakepeer.Server, error) { return fakepeer.ListenTCP(addr, fakepeer.Silent) }

// The <stream:features> of an XMPP server, by what they say of STARTTLS.
const (
	startTLSNone     = "<stream:features/>"
	startTLSOffered  = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"
	startTLSRequired = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
)

// xmppStartTLS answers the stream header, in the client's namespace, with features, and goes on to TLS
// with cfg when asked.
func xmppStartTLS(features string, cfg *tls.Config) fake {
	return func(addr string) (*fakepeer.Server, error) {
		return fakepeer.ListenTCP(addr, fakepeer.XMPPStartTLS(features, fakepeer.Proceed, cfg))
	}
}

// xmppDirect is TLS with cfg first (XEP-0368, which names the ALPN protocols), then the stream header
// answered with STARTTLS required, as Prosody answers.
func xmppDirect(cfg *tls.Config) fake {
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"xmpp-client", "xmpp-server"}
	return func(addr string) (*fakepeer.Server, error) {
		return fakepeer.ListenTLS(addr, cfg, fakepeer.XMPP(fakepeer.Features))
	}
}

// xmppServerPort answers every stream header in jabber:server, as Prosody's server port does whatever
// the client asked for.
func xmppServerPort(addr string) (*fakepeer.Server, error) {
	return fakepeer.ListenTCP(addr, fakepeer.XMPP(func(h fakepeer.StreamHeader) string {
		h.NS = "jabber:server"
		return fakepeer.Features(h)
	}))
}
