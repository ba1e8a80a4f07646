package srvhealth

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

// dualStack answers for sip1.example.com with two IPv4 and one IPv6 address, and the zone's SOA.
// sip1v6Dead is what the probes say of sip1.example.com.'s addresses in dualStack: IPv4 alive, its IPv6
// address down.
var sip1v6Dead = health.Addresses{Live: addrList("192.0.2.1", "192.0.2.2"), Down: addrList("2001:db8::1"), Until: now.Add(8 * time.Second)}

func dualStack(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	switch r.Question[0].Qtype {
	case dns.TypeA:
		m.Answer = []dns.RR{test.A("sip1.example.com. 300 IN A 192.0.2.1"), test.A("sip1.example.com. 300 IN A 192.0.2.2")}
	case dns.TypeAAAA:
		m.Answer = []dns.RR{test.AAAA("sip1.example.com. 300 IN AAAA 2001:db8::1")}
	case dns.TypeSOA:
		m.Ns = []dns.RR{test.SOA("example.com. 3600 IN SOA ns.example.com. admin.example.com. 1 7200 3600 1209600 60")}
	}
	m.Ns = append(m.Ns, test.NS("example.com. 300 IN NS ns.example.com."))
	return m
}

func addrList(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func addresses(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	slices.Sort(out)
	return out
}

func TestFilterAddresses(t *testing.T) {
	oneV4Dead := health.Addresses{Live: addrList("192.0.2.2", "2001:db8::1"), Down: addrList("192.0.2.1")}
	allDead := health.Addresses{Down: addrList("192.0.2.1", "192.0.2.2", "2001:db8::1")}
	tests := []struct {
		name   string
		block  string
		qname  string
		qtype  uint16
		st     health.Addresses
		want   []string
		nodata bool
	}{
		{"off by default", "", "sip1.example.com.", dns.TypeAAAA, sip1v6Dead, []string{"2001:db8::1"}, false},
		{"dead family: nodata", "filter_addresses", "sip1.example.com.", dns.TypeAAAA, sip1v6Dead, nil, true},
		{"live family untouched", "filter_addresses", "sip1.example.com.", dns.TypeA, sip1v6Dead, []string{"192.0.2.1", "192.0.2.2"}, false},
		{"one dead address dropped", "filter_addresses", "sip1.example.com.", dns.TypeA, oneV4Dead, []string{"192.0.2.2"}, false},
		{"mixed case name", "filter_addresses", "SIP1.Example.com.", dns.TypeA, oneV4Dead, []string{"192.0.2.2"}, false},
		{"everything dead: unchanged", "filter_addresses", "sip1.example.com.", dns.TypeA, allDead, []string{"192.0.2.1", "192.0.2.2"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &fakeView{addrs: map[string]health.Addresses{"sip1.example.com.": tc.st}}
			h := newTestHandler(t, "srvhealth example.com {\n"+tc.block+"\n}", v, upstream(dualStack))
			m := serve(t, h, tc.qname, tc.qtype, false)
			if got := addresses(m); !slices.Equal(got, tc.want) {
				t.Errorf("addresses %v, want %v", got, tc.want)
			}
			isNoData := m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0 && len(m.Ns) == 1 && m.Ns[0].Header().Rrtype == dns.TypeSOA
			if isNoData != tc.nodata {
				t.Errorf("nodata %v (rcode %s, authority %v), want %v", isNoData, dns.RcodeToString[m.Rcode], m.Ns, tc.nodata)
			}
			wantTTL := uint32(300) // the upstream's, for an answer srvhealth leaves alone
			if tc.block != "" && len(tc.st.Live) > 0 {
				wantTTL = 30 // max_ttl
				if !tc.st.Until.IsZero() {
					wantTTL = 8 // the time until the target could change state
				}
			}
			for _, rr := range m.Answer {
				if rr.Header().Ttl != wantTTL {
					t.Errorf("TTL %d, want %d", rr.Header().Ttl, wantTTL)
				}
			}
		})
	}
}

// TestFilterAddressesLeavesOthers: names that are not monitored targets, and signed DO answers, pass
// through byte for byte.
func TestFilterAddressesLeavesOthers(t *testing.T) {
	v6Dead := health.Addresses{Live: addrList("192.0.2.1"), Down: addrList("2001:db8::1")}
	signed := func(r *dns.Msg) *dns.Msg {
		m := dualStack(r)
		m.Answer = append(m.Answer, test.RRSIG("sip1.example.com. 300 IN RRSIG AAAA 13 3 300 20261231000000 20261101000000 12345 example.com. c2lnbmF0dXJl"))
		return m
	}
	for _, tc := range []struct {
		name  string
		qname string
		do    bool
		next  func(*dns.Msg) *dns.Msg
	}{
		{"not a target", "www.example.com.", false, dualStack},
		{"outside the zones", "sip1.example.org.", false, dualStack},
		{"signed, DO", "sip1.example.com.", true, signed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &fakeView{addrs: map[string]health.Addresses{"sip1.example.com.": v6Dead, "sip1.example.org.": v6Dead}}
			h := newTestHandler(t, "srvhealth example.com {\nfilter_addresses\n}", v, upstream(tc.next))
			req := new(dns.Msg).SetQuestion(tc.qname, dns.TypeAAAA)
			if tc.do {
				req.SetEdns0(4096, true)
			}
			want, _ := tc.next(req).Pack()
			got, _ := serveReq(t, h, req).Pack()
			if string(got) != string(want) {
				t.Errorf("answer changed:\n got %x\nwant %x", got, want)
			}
		})
	}
}
