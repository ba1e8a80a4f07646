package srvhealth

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/file"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

// The chain benchmarks run the query path end to end in one process: CoreDNS's file plugin serving the
// zone of bench/run's variants (voip.test: 7 SIP/XMPP services at the apex and for nine tenants, 15 target
// keys up and 4 down), alone and behind srvhealth with a real health.Monitor holding those states, every
// reply packed as the server packs it. They say what srvhealth adds per query where the machine's noise
// cannot reach the ratio as much as it reaches dnsperf's (both chains run in the same process, one after
// the other), and how many allocations of its own it makes. bench/run's same-core pairs remain the
// measure of record; these are for finding and checking the cost.

// chainZone is bench/run's voip.test zone.
func chainZone() string {
	var b strings.Builder
	b.WriteString(`$ORIGIN voip.test.
$TTL 300
@       IN SOA ns hostmaster 2026120401 7200 3600 1209600 300
@       IN NS  ns
ns      IN A    127.77.0.53
www     IN A    127.77.3.2
www     IN AAAA 2001:db8:77::80
`)
	for _, t := range chainTargets {
		fmt.Fprintf(&b, "%s IN A %s\n%s IN AAAA %s\n", t.name, t.v4, t.name, t.v6)
	}
	for _, d := range chainDomains {
		s := ""
		if d != "@" {
			s = "." + d
			fmt.Fprintf(&b, "%s IN A 127.77.3.2\n", d)
		}
		for _, r := range chainRecords {
			fmt.Fprintf(&b, "%s%s IN SRV %s\n", r[0], s, r[1])
		}
	}
	return b.String()
}

var chainDomains = []string{"@", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"}

var chainTargets = []struct{ name, v4, v6 string }{
	{"sip1", "127.77.1.1", "2001:db8:77::1:1"}, {"sip2", "127.77.1.2", "2001:db8:77::1:2"},
	{"sip3", "127.77.1.3", "2001:db8:77::1:3"}, {"sip4", "127.77.1.4", "2001:db8:77::1:4"},
	{"xmpp1", "127.77.2.1", "2001:db8:77::2:1"}, {"xmpp2", "127.77.2.2", "2001:db8:77::2:2"},
	{"xmpp3", "127.77.2.3", "2001:db8:77::2:3"},
}

// chainRecords are each domain's SRV records: owner label, rdata.
var chainRecords = [][2]string{
	{"_sip._udp", "10 60 5060 sip1"}, {"_sip._udp", "10 40 5060 sip2"}, {"_sip._udp", "10 20 5060 sip3"}, {"_sip._udp", "20 0 5060 sip4"},
	{"_sip._tcp", "10 60 5060 sip1"}, {"_sip._tcp", "10 40 5060 sip2"}, {"_sip._tcp", "10 20 5060 sip3"}, {"_sip._tcp", "20 0 5060 sip4"},
	{"_sips._tcp", "10 60 5061 sip1"}, {"_sips._tcp", "10 40 5061 sip2"}, {"_sips._tcp", "20 0 5061 sip3"},
	{"_xmpp-client._tcp", "5 0 5222 xmpp1"}, {"_xmpp-client._tcp", "5 0 5222 xmpp2"}, {"_xmpp-client._tcp", "10 0 5222 xmpp3"},
	{"_xmpp-server._tcp", "5 0 5269 xmpp1"}, {"_xmpp-server._tcp", "5 0 5269 xmpp2"},
	{"_xmpps-client._tcp", "5 0 5223 xmpp1"}, {"_xmpps-client._tcp", "10 0 5223 xmpp3"},
	{"_xmpps-server._tcp", "5 0 5270 xmpp1"},
	{"_ldap._tcp", "0 0 389 ldap"},
}

// chainDead are the dead target keys of the zone: sip4 on UDP and TCP, xmpp3 on 5222 and 5223.
var chainDead = map[string]bool{"_sip._udp sip4": true, "_sip._tcp sip4": true, "_xmpp-client._tcp xmpp3": true, "_xmpps-client._tcp xmpp3": true}

// chainFile returns the file plugin serving chainZone.
func chainFile(tb testing.TB) file.File {
	z, err := file.Parse(strings.NewReader(chainZone()), "voip.test.", "bench", 0)
	if err != nil {
		tb.Fatal(err)
	}
	return file.File{Zones: file.Zones{Z: map[string]*file.Zone{"voip.test.": z}, Names: []string{"voip.test."}}}
}

// chainHandler returns srvhealth (as bench/run configures it: scope 127.0.0.0/8, filter_addresses) in
// front of next, its monitor never started but holding the zone's states, as a member of a fleet would
// hold them: every target resolved to its two addresses, the IPv4 one probed (up, or down for the dead
// keys), the IPv6 one outside the scope.
func chainHandler(tb testing.TB, next plugin.Handler) *Handler {
	cfg := newConfig([]string{"voip.test."})
	cfg.Scope = Scope{Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	cfg.FilterAddresses = true
	h, err := newHandler(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	h.Next = next
	tb.Cleanup(h.monitor.Stop)
	addrs := map[string][2]netip.Addr{}
	for _, t := range chainTargets {
		addrs[t.name+".voip.test."] = [2]netip.Addr{netip.MustParseAddr(t.v4), netip.MustParseAddr(t.v6)}
	}
	now := time.Now()
	for _, d := range chainDomains {
		domain := "voip.test"
		if d != "@" {
			domain = d + ".voip.test"
		}
		for _, r := range chainRecords {
			svc := cfg.match(r[0] + "." + domain + ".")
			if svc == nil {
				continue
			}
			f := strings.Fields(r[1])
			var port uint16
			fmt.Sscan(f[2], &port)
			target := f[3] + ".voip.test."
			a := addrs[target]
			state := health.Up
			if chainDead[r[0]+" "+f[3]] {
				state = health.Down
			}
			s := health.Shared{
				Key: health.NewKey(target, port, svc.Method, domain), Domain: domain, Prober: "bench",
				Checked: now, Since: now.Add(-time.Hour), Resolved: true,
				Res:   health.Resolution{Addrs: a[:], TTL: 300},
				Addrs: []health.SharedAddr{{Addr: a[0], State: state, Up: state == health.Up}},
			}
			if state == health.Down {
				s.Addrs[0].Fails = cfg.Fails
			} else {
				s.Addrs[0].Rises = cfg.Rises
			}
			h.monitor.Adopt(s)
		}
	}
	return h
}

// chainQueries returns the SRV queries of the 70 SIP/XMPP names of the zone (bench/run's intercepted
// mix), with EDNS as dnsperf -e sends them.
func chainQueries() []*dns.Msg {
	var qs []*dns.Msg
	for _, d := range chainDomains {
		s := "voip.test."
		if d != "@" {
			s = d + ".voip.test."
		}
		seen := map[string]bool{}
		for _, r := range chainRecords {
			if r[0] == "_ldap._tcp" || seen[r[0]] {
				continue
			}
			seen[r[0]] = true
			m := new(dns.Msg).SetQuestion(r[0]+"."+s, dns.TypeSRV)
			m.SetEdns0(1232, false)
			qs = append(qs, m)
		}
	}
	return qs
}

// packWriter packs every reply, as the server does before it sends it.
type packWriter struct {
	test.ResponseWriter
	buf []byte
}

func (w *packWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.PackBuffer(w.buf)
	w.buf = b
	return err
}

// BenchmarkChain runs bench/run's intercepted mix through file alone and through srvhealth in front of
// file. The ratio of their ns/op is the in-process counterpart of bench/run's file+srvhealth / file pair
// (without the server's reading, goroutine and writing); allocs/op of the second minus the first are
// srvhealth's own.
func BenchmarkChain(b *testing.B) {
	f := chainFile(b)
	h := chainHandler(b, f)
	qs := chainQueries()
	for _, c := range []struct {
		name string
		h    plugin.Handler
	}{{"file", f}, {"file+srvhealth", h}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			w := &packWriter{}
			b.ReportAllocs()
			i := 0
			done := make(chan struct{})
			for b.Loop() {
				// A goroutine per query, as the server runs each: its stack starts small and grows with
				// the query's depth, which is part of what a plugin costs.
				q := qs[i%len(qs)]
				go func() {
					c.h.ServeDNS(ctx, w, q)
					done <- struct{}{}
				}()
				<-done
				i++
			}
		})
	}
}

// TestChainFilters checks the chain benchmark measures what it says: through srvhealth the dead targets
// are gone from the answers of the 70 names, and every answer still has a record.
func TestChainFilters(t *testing.T) {
	f := chainFile(t)
	h := chainHandler(t, f)
	ctx := context.Background()
	dead, records := 0, 0
	for _, q := range chainQueries() {
		for _, hd := range []plugin.Handler{f, h} {
			w := dnstest.NewRecorder(&test.ResponseWriter{})
			if _, err := hd.ServeDNS(ctx, w, q); err != nil || w.Msg == nil {
				t.Fatalf("%s: %v", q.Question[0].Name, err)
			}
			for _, rr := range w.Msg.Answer {
				s, ok := rr.(*dns.SRV)
				if !ok {
					continue
				}
				label := firstTwoLabels(q.Question[0].Name)
				if chainDead[strings.TrimSuffix(label, ".")+" "+strings.TrimSuffix(s.Target, ".voip.test.")] {
					if hd == h {
						t.Errorf("%s: dead target %s served through srvhealth", q.Question[0].Name, s.Target)
					}
					dead++
				}
				if hd == h {
					records++
				}
			}
		}
	}
	if dead != 40 { // 4 dead keys in each of the 10 domains, served by file alone
		t.Errorf("file alone served %d dead records, want 40", dead)
	}
	if records != 150 { // 19 records a domain, 4 of them dead
		t.Errorf("srvhealth served %d records, want 150", records)
	}
}
