package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// dnsClient asks DNS servers questions, each bounded by timeout, at most cap(slots) at a time.
type dnsClient struct {
	timeout time.Duration
	slots   chan struct{}
}

// reply is a server's answer to one question, or why there is none.
type reply struct {
	msg *dns.Msg
	rtt time.Duration
	err error
}

// ask sends name/qtype to server (host:port) over UDP, and again over TCP when the answer is truncated.
// rd asks for recursion: set for a resolver, clear for an authoritative server, which must answer from
// its own data (dig +norecurse).
func (c *dnsClient) ask(ctx context.Context, server, name string, qtype uint16, rd bool) reply {
	return c.askClass(ctx, server, name, qtype, dns.ClassINET, rd)
}

// askClass is ask in another class than IN (CH for srvhealth's status view).
func (c *dnsClient) askClass(ctx context.Context, server, name string, qtype, qclass uint16, rd bool) reply {
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	case <-ctx.Done():
		return reply{err: ctx.Err()}
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Question[0].Qclass = qclass
	m.RecursionDesired = rd
	m.SetEdns0(1232, false) // the DNS flag day 2020 size: no fragments, few truncations
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	cl := &dns.Client{Net: "udp", Timeout: c.timeout}
	r, _, err := cl.ExchangeContext(ctx, m, server)
	if err == nil && r.Truncated {
		cl.Net = "tcp"
		r, _, err = cl.ExchangeContext(ctx, m, server)
	}
	return reply{msg: r, rtt: time.Since(start), err: err}
}

// why is an error as a report says it: "timeout", "connection refused", or the error.
func why(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	case strings.Contains(err.Error(), "network is unreachable"):
		return "network unreachable"
	}
	return err.Error()
}

// systemResolver returns the first name server of /etc/resolv.conf.
func systemResolver(path string) (string, error) {
	cfg, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return "", fmt.Errorf("no resolver: %v (give one with --resolver)", err)
	}
	if len(cfg.Servers) == 0 {
		return "", fmt.Errorf("no resolver in %s (give one with --resolver)", path)
	}
	return net.JoinHostPort(cfg.Servers[0], cfg.Port), nil
}

// hostPort adds port to addr when it has none: "192.0.2.1" -> "192.0.2.1:53", "::1" -> "[::1]:53".
func hostPort(addr string, port int) (string, error) {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr, nil
	}
	a := strings.Trim(addr, "[]")
	if a == "" {
		return "", fmt.Errorf("empty address")
	}
	return net.JoinHostPort(a, strconv.Itoa(port)), nil
}

// findZone returns the zone that holds name: the owner of the SOA record a resolver returns for it, in
// the answer when name is the apex, else in the authority section. A resolver that returns neither
// (some strip the authority section) is asked again one label up.
func (c *dnsClient) findZone(ctx context.Context, resolver, name string) (string, error) {
	for n := name; ; {
		r := c.ask(ctx, resolver, n, dns.TypeSOA, true)
		if r.err != nil {
			return "", fmt.Errorf("resolver %s: %s", resolver, why(r.err))
		}
		if r.msg.Rcode != dns.RcodeSuccess && r.msg.Rcode != dns.RcodeNameError {
			return "", fmt.Errorf("resolver %s answers %s for %s SOA", resolver, dns.RcodeToString[r.msg.Rcode], n)
		}
		for _, sec := range [][]dns.RR{r.msg.Answer, r.msg.Ns} {
			for _, rr := range sec {
				if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, name) {
					return strings.ToLower(soa.Hdr.Name), nil
				}
			}
		}
		if n == "." {
			return "", fmt.Errorf("resolver %s knows no zone for %s", resolver, name)
		}
		i, _ := dns.NextLabel(n, 0)
		n = n[i:]
		if n == "" {
			n = "."
		}
	}
}

// nameServer is one address of one authoritative server of a zone.
type nameServer struct {
	name string // "ns1.example.com."
	addr string // "192.0.2.53:53"
}

func (s nameServer) String() string { return s.name + " (" + s.addr + ")" }

// authServers returns the addresses of the authoritative servers of zone, found through the resolver,
// each on port. Addresses of a family this host has no route for are left out and returned apart, so
// that an IPv4-only machine does not report every IPv6 server as dead.
func (c *dnsClient) authServers(ctx context.Context, resolver, zone string, port int, families family) (servers []nameServer, unroutable []string, err error) {
	r := c.ask(ctx, resolver, zone, dns.TypeNS, true)
	if r.err != nil {
		return nil, nil, fmt.Errorf("resolver %s: %s", resolver, why(r.err))
	}
	var names []string
	glue := map[string][]netip.Addr{}
	for _, rr := range r.msg.Answer {
		if ns, ok := rr.(*dns.NS); ok {
			names = append(names, strings.ToLower(ns.Ns))
		}
	}
	for _, rr := range r.msg.Extra {
		if a := addrOf(rr); a.IsValid() {
			n := strings.ToLower(rr.Header().Name)
			glue[n] = append(glue[n], a)
		}
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("resolver %s gives no NS records for %s", resolver, zone)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, n := range names {
		addrs := glue[n]
		if len(addrs) == 0 {
			addrs = c.addresses(ctx, resolver, n)
		}
		slices.SortFunc(addrs, netip.Addr.Compare)
		for _, a := range slices.Compact(addrs) {
			hp := netip.AddrPortFrom(a, uint16(port)).String()
			if !families.allows(a) || !routable(a) {
				unroutable = append(unroutable, n+" "+hp)
				continue
			}
			servers = append(servers, nameServer{name: n, addr: hp})
		}
	}
	if len(servers) == 0 {
		return nil, unroutable, fmt.Errorf("no address of the authoritative servers of %s can be reached from here (%s)", zone, strings.Join(names, ", "))
	}
	return servers, unroutable, nil
}

// addresses resolves name to its A and AAAA addresses through the resolver.
func (c *dnsClient) addresses(ctx context.Context, resolver, name string) []netip.Addr {
	out, _ := c.resolveAddresses(ctx, resolver, name)
	return out
}

// resolveAddresses is addresses, and why the resolver gave no answer for a family (an error, or an rcode
// other than NOERROR and NXDOMAIN); empty when both questions were answered.
func (c *dnsClient) resolveAddresses(ctx context.Context, resolver, name string) ([]netip.Addr, string) {
	var out []netip.Addr
	failed := ""
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		r := c.ask(ctx, resolver, name, qt, true)
		switch {
		case r.err != nil:
			failed = firstOf(failed, why(r.err))
			continue
		case r.msg.Rcode != dns.RcodeSuccess && r.msg.Rcode != dns.RcodeNameError:
			failed = firstOf(failed, dns.RcodeToString[r.msg.Rcode])
			continue
		}
		for _, rr := range r.msg.Answer {
			if a := addrOf(rr); a.IsValid() {
				out = append(out, a)
			}
		}
	}
	return out, failed
}

func addrOf(rr dns.RR) netip.Addr {
	switch rr := rr.(type) {
	case *dns.A:
		a, _ := netip.AddrFromSlice(rr.A.To4())
		return a
	case *dns.AAAA:
		a, _ := netip.AddrFromSlice(rr.AAAA)
		return a
	}
	return netip.Addr{}
}

// family restricts the address families used, as dig -4 and -6 do.
type family uint8

const (
	bothFamilies family = iota
	only4
	only6
)

func (f family) allows(a netip.Addr) bool {
	switch f {
	case only4:
		return a.Is4() || a.Is4In6()
	case only6:
		return a.Is6() && !a.Is4In6()
	}
	return true
}

// routable reports whether this host has a route to a: connecting a UDP socket asks the kernel for one
// without sending anything.
func routable(a netip.Addr) bool {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 9)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}
