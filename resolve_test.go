package srvhealth

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/srvhealth/srvhealth/health"
)

// resolverNext answers A and AAAA queries for any name as told: with an address, by hanging until the
// query's context ends (an upstream that drops that type), or with an error code; TC says to truncate the
// UDP reply of that type (the TCP one is whole).
type resolverNext struct {
	a, aaaa string // "addr:<ip>", "hang", "servfail", "truncate:<ip>", "truncate-always"
}

func (n resolverNext) Name() string { return "resolverNext" }

func (n resolverNext) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	q := r.Question[0]
	how := n.a
	if q.Qtype == dns.TypeAAAA {
		how = n.aaaa
	}
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	m := new(dns.Msg)
	m.SetReply(r)
	verb, ip, _ := strings.Cut(how, ":")
	switch verb {
	case "hang":
		<-ctx.Done()
		return dns.RcodeServerFailure, ctx.Err()
	case "servfail":
		m.Rcode = dns.RcodeServerFailure
	case "truncate-always":
		m.Truncated = true
	case "truncate":
		if !tcp {
			m.Truncated = true
			break
		}
		fallthrough
	case "addr":
		rr, err := dns.NewRR(q.Name + " 60 IN " + dns.TypeToString[q.Qtype] + " " + ip)
		if err != nil {
			return dns.RcodeServerFailure, err
		}
		m.Answer = append(m.Answer, rr)
	}
	w.WriteMsg(m)
	return m.Rcode, nil
}

// TestChainResolverPartial checks that one address type failing does not throw the other away, that a
// truncated reply is asked again over TCP and never used as whole, that a failure only counts as one
// when no address is known, and that every failure is counted and logged, a timeout included.
func TestChainResolverPartial(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		name      string
		next      resolverNext
		want      []netip.Addr
		wantErr   bool
		failures  map[string]float64 // "qtype reason" -> increase of resolve_failures_total
		logSubstr string
	}{
		{"both answer", resolverNext{a: "addr:192.0.2.1", aaaa: "addr:2001:db8::1"}, []netip.Addr{v4, v6}, false, nil, ""},
		{"AAAA dropped", resolverNext{a: "addr:192.0.2.1", aaaa: "hang"}, []netip.Addr{v4}, false,
			map[string]float64{"AAAA timeout": 1}, "AAAA: timeout"},
		{"A servfail", resolverNext{a: "servfail", aaaa: "addr:2001:db8::1"}, []netip.Addr{v6}, false,
			map[string]float64{"A servfail": 1}, "A: SERVFAIL"},
		{"truncated over UDP, whole over TCP", resolverNext{a: "truncate:192.0.2.1", aaaa: "addr:2001:db8::1"}, []netip.Addr{v4, v6}, false, nil, ""},
		{"truncated over TCP too", resolverNext{a: "truncate-always", aaaa: "hang"}, nil, true,
			map[string]float64{"A truncated": 1, "AAAA timeout": 1}, "cannot be resolved"},
		{"everything times out", resolverNext{a: "hang", aaaa: "hang"}, nil, true,
			map[string]float64{"A timeout": 1, "AAAA timeout": 1}, "cannot be resolved"},
	}
	failures := func() map[string]float64 {
		out := map[string]float64{}
		mfs, err := prometheus.DefaultGatherer.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "coredns_srvhealth_resolve_failures_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				var qt, reason string
				for _, lp := range m.GetLabel() {
					switch lp.GetName() {
					case "qtype":
						qt = lp.GetValue()
					case "reason":
						reason = lp.GetValue()
					}
				}
				out[qt+" "+reason] = m.GetCounter().GetValue()
			}
		}
		return out
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := strings.ReplaceAll(tc.name, " ", "-") + ".example.com."
			r := chainResolver{next: func() plugin.Handler { return tc.next }, ev: &events{}}
			before := failures()
			var res health.Resolution
			var err error
			out := captureLog(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				res, err = r.Resolve(ctx, target)
			})
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error %v", err, tc.wantErr)
			}
			slices.SortFunc(res.Addrs, netip.Addr.Compare)
			if !slices.Equal(res.Addrs, tc.want) {
				t.Errorf("addresses %v, want %v", res.Addrs, tc.want)
			}
			after := failures()
			for k, v := range after {
				if d := v - before[k]; d != tc.failures[k] {
					t.Errorf("resolve_failures_total{%s} grew by %v, want %v", k, d, tc.failures[k])
				}
			}
			for k, v := range tc.failures {
				if after[k]-before[k] != v {
					t.Errorf("resolve_failures_total{%s} grew by %v, want %v", k, after[k]-before[k], v)
				}
			}
			if tc.logSubstr == "" {
				if out != "" {
					t.Errorf("logged %q for a resolution without failure", out)
				}
			} else if !strings.Contains(out, target) || !strings.Contains(out, tc.logSubstr) {
				t.Errorf("log %q does not name %s and %q", out, target, tc.logSubstr)
			}
		})
	}
}

// TestChainResolverTTL: the resolution carries the lowest TTL of the address records, the most any address
// srvhealth adds to an answer may live.
func TestChainResolverTTL(t *testing.T) {
	next := test.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{test.A("t.example.com. 120 IN A 192.0.2.1"), test.A("t.example.com. 45 IN A 192.0.2.2")}
		} else {
			m.Answer = []dns.RR{test.AAAA("t.example.com. 0 IN AAAA 2001:db8::1")}
		}
		w.WriteMsg(m)
		return 0, nil
	})
	res, err := chainResolver{next: func() plugin.Handler { return next }}.Resolve(context.Background(), "t.example.com.")
	if err != nil || res.TTL != 0 || len(res.Addrs) != 3 {
		t.Errorf("Resolve = %+v, %v; want 3 addresses and TTL 0, the AAAA record's", res, err)
	}
}
