// Command peers stands in for the SIP and XMPP servers of the benchmark: it listens on loopback addresses
// and answers the way srvhealth's probes expect a live server to, or, for the dead cases, does not. The
// servers are internal/fakepeer's, the same the probe tests use.
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
//	hung-tcp   accepts TCP connections and never answers (a hung server: the worst case for clients)
//	hung-udp   binds a UDP port and never answers (datagrams vanish: no reply, no ICMP)
//	blackhole  a TCP listener that never accepts, with its one-slot accept queue filled by peers itself, so
//	           the kernel drops every new SYN and connects time out, as behind a firewall that drops
//
// A closed port needs no line: on loopback it refuses at once (TCP RST, ICMP port unreachable for UDP).
//
// It writes "ready" on stdout once every listener is open and runs until killed.
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/srvhealth/srvhealth/internal/fakepeer"
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
	servers, err = run(f)
	f.Close()
	if err != nil {
		log.Fatalf("peers: %v", err)
	}
	fmt.Printf("ready %d listeners\n", len(servers))
	select {}
}

// servers stay reachable until the process ends, and with them the blackholes' own connections.
var servers []*fakepeer.Server

// run opens every listener of the spec; on an error it closes those it opened.
func run(spec io.Reader) ([]*fakepeer.Server, error) {
	var (
		servers []*fakepeer.Server
		tlsConf *tls.Config
		err     error
	)
	fail := func(err error) ([]*fakepeer.Server, error) {
		for _, s := range servers {
			s.Close()
		}
		return nil, err
	}
	sc := bufio.NewScanner(spec)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return fail(fmt.Errorf("bad spec line %q", sc.Text()))
		}
		kind, addr := fields[0], fields[1]
		if (kind == "sip-tls" || kind == "xmpp-tls") && tlsConf == nil {
			if tlsConf, err = fakepeer.SelfSigned("voip.test", "*.voip.test", "scale.test", "*.scale.test"); err != nil {
				return fail(err)
			}
			tlsConf.NextProtos = []string{"xmpp-client", "xmpp-server"}
		}
		s, err := listen(kind, addr, tlsConf)
		if err != nil {
			return fail(fmt.Errorf("%s %s: %w", kind, addr, err))
		}
		servers = append(servers, s)
	}
	if err := sc.Err(); err != nil {
		return fail(err)
	}
	return servers, nil
}

// alive is a live SIP server's answer to OPTIONS.
var alive = fakepeer.Answer("200 OK", "Allow: OPTIONS", "Server: srvhealth-bench-peer")

func listen(kind, addr string, tlsConf *tls.Config) (*fakepeer.Server, error) {
	switch kind {
	case "sip-udp":
		return fakepeer.ListenUDP(addr, fakepeer.SIPPacket(alive))
	case "sip-tcp":
		return fakepeer.ListenTCP(addr, fakepeer.SIPStream(alive))
	case "sip-tls":
		return fakepeer.ListenTLS(addr, tlsConf, fakepeer.SIPStream(alive))
	case "xmpp":
		return fakepeer.ListenTCP(addr, fakepeer.XMPP(fakepeer.Features))
	case "xmpp-tls":
		return fakepeer.ListenTLS(addr, tlsConf, fakepeer.XMPP(fakepeer.Features))
	case "tcp":
		return fakepeer.ListenTCP(addr, nil)
	case "hung-tcp":
		return fakepeer.ListenTCP(addr, fakepeer.Silent)
	case "hung-udp":
		return fakepeer.ListenUDP(addr, nil)
	case "blackhole":
		return fakepeer.ListenBlackhole(addr)
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}
