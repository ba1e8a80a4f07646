package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// A REFUSED status answer has two causes CoreDNS does not tell apart: no server block serves the name
// (CoreDNS refuses every name outside its blocks' zones), or the block that serves it has no status
// property or does not allow this address. srvhealth status asks the zone's SOA to tell which, and says
// so; without NAME it says that it asked the root zone's block.
func TestStatusRefusedSaysWhy(t *testing.T) {
	// served: the zones a block serves (the SOA is answered); the status is refused everywhere.
	server := func(served ...string) func(q *dns.Msg) *dns.Msg {
		return func(q *dns.Msg) *dns.Msg {
			m := new(dns.Msg)
			qq := q.Question[0]
			for _, z := range served {
				if qq.Qclass == dns.ClassINET && dns.IsSubDomain(z, qq.Name) {
					m.SetReply(q)
					m.Authoritative = true
					return m
				}
			}
			m.SetRcode(q, dns.RcodeRefused)
			return m
		}
	}
	for _, tc := range []struct {
		name   string
		served []string
		args   []string
		want   string
		not    string
	}{
		{"no NAME, no root block", []string{"example.com."}, nil, "no server block serves the root zone", "no status property"},
		{"a zone no block serves", []string{"example.com."}, []string{"example.net"}, "no server block serves example.net.", "no status property"},
		{"an SRV name no block serves", []string{"example.com."}, []string{"_sip._udp.example.net"}, "no server block serves _sip._udp.example.net.", "no status property"},
		{"a served zone without status", []string{"example.com."}, []string{"example.com"}, "has no status property, or its status does not allow this address", "no server block"},
		{"a served SRV name without status", []string{"example.com."}, []string{"_sip._udp.example.com"}, "has no status property", "no server block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := chaosServer(t, server(tc.served...))
			var stdout, stderr bytes.Buffer
			got := run(append([]string{"status", "--server", addr, "--timeout", "2s"}, tc.args...), &stdout, &stderr)
			if got != exitUnknown || !strings.Contains(stderr.String(), tc.want) || strings.Contains(stderr.String(), tc.not) {
				t.Errorf("exit %d, stderr %q; want 3 and %q, not %q", got, stderr.String(), tc.want, tc.not)
			}
		})
	}
}
