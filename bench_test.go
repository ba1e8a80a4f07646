package srvhealth

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

// discardWriter is a ResponseWriter that drops the reply, so benchmarks measure the plugin alone.
type discardWriter struct{ *test.ResponseWriter }

func (discardWriter) WriteMsg(*dns.Msg) error { return nil }

// staticView is a health view with fixed answers that records nothing.
type staticView map[string]health.Status

func (v staticView) Addresses(string) (health.Addresses, bool) { return health.Addresses{}, false }

func (v staticView) Check(k health.Key, _ string) (health.Status, bool) {
	st, ok := v[k.Target]
	return st, ok
}

// benchHandler returns a handler whose next plugin answers with a fresh copy of answer's sections, as file
// does, without allocating for anything else.
func benchHandler(b *testing.B, answer *dns.Msg) *Handler {
	st := map[string]health.Status{
		"sip1.example.com.":    {State: health.Up, Resolved: true, Up: []netip.Addr{netip.MustParseAddr("192.0.2.1")}},
		"sip2.example.com.":    {State: health.Down, Resolved: true, Down: []netip.Addr{netip.MustParseAddr("192.0.2.2")}},
		"standby.example.com.": {State: health.Up, Resolved: true, Until: time.Now().Add(time.Hour)},
	}
	cfg := newConfig([]string{"example.com."})
	reply := new(dns.Msg)
	next := test.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		*reply = *answer
		reply.Answer = append(reply.Answer[:0:0], answer.Answer...)
		reply.Extra = append(reply.Extra[:0:0], answer.Extra...)
		w.WriteMsg(reply)
		return 0, nil
	})
	return &Handler{Next: next, cfg: cfg, view: &fakeView{status: st}, intn: rand.IntN, now: time.Now}
}

func BenchmarkServeDNSIntercepted(b *testing.B) {
	req := new(dns.Msg).SetQuestion("_sip._tcp.example.com.", dns.TypeSRV)
	h := benchHandler(b, sipAnswer(req))
	h.view = staticView(h.view.(*fakeView).status) // no recording of observations
	ctx := context.Background()
	w := discardWriter{&test.ResponseWriter{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeDNS(ctx, w, req)
	}
}

// writePrepared is a next plugin that writes a prepared reply: whatever a query through srvhealth then
// allocates is srvhealth's own (or plugin.NextOrFailure's; see BenchmarkNextOrFailure).
func writePrepared(reply *dns.Msg) test.HandlerFunc {
	return func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		w.WriteMsg(reply)
		return 0, nil
	}
}

// passThroughConfig intercepts the A and AAAA queries of monitored targets too (filter_addresses), so the
// pass-through path pays the lookup that tells a target's name from any other.
func passThroughConfig() *Config {
	cfg := newConfig([]string{"example.com."})
	cfg.FilterAddresses = true
	return cfg
}

func benchPassThrough(b *testing.B, name string, qtype uint16) {
	req := new(dns.Msg).SetQuestion(name, qtype)
	h := &Handler{Next: writePrepared(new(dns.Msg)), cfg: passThroughConfig(), view: staticView{}, intn: rand.IntN, now: time.Now}
	ctx := context.Background()
	w := discardWriter{&test.ResponseWriter{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeDNS(ctx, w, req)
	}
}

func BenchmarkServeDNSPassThrough(b *testing.B) { benchPassThrough(b, "sip1.example.com.", dns.TypeA) }

func BenchmarkServeDNSPassThroughSRV(b *testing.B) {
	benchPassThrough(b, "_ldap._tcp.example.com.", dns.TypeSRV)
}

func BenchmarkOrder(b *testing.B) {
	s := srvs(70, 30, 0, 10, 50)
	intn := rand.New(rand.NewPCG(1, 2)).IntN
	b.ReportAllocs()
	for b.Loop() {
		order(s, intn)
	}
}

// BenchmarkNextOrFailure is the baseline of the pass-through path: what CoreDNS's own plugin.NextOrFailure
// costs (it wraps the writer to record which plugin answered), paid by every plugin that calls the next one.
func BenchmarkNextOrFailure(b *testing.B) {
	req := new(dns.Msg).SetQuestion("sip1.example.com.", dns.TypeA)
	next := writePrepared(new(dns.Msg))
	ctx := context.Background()
	w := discardWriter{&test.ResponseWriter{}}
	b.ReportAllocs()
	for b.Loop() {
		plugin.NextOrFailure("baseline", next, ctx, w, req)
	}
}

// TestPassThroughAllocatesNothingOfItsOwn compares the pass-through path with the next plugin called
// alone: srvhealth must add no allocation to queries it does not intercept, not even the writer
// plugin.NextOrFailure wraps (see Handler.next).
func TestPassThroughAllocatesNothingOfItsOwn(t *testing.T) {
	next := writePrepared(new(dns.Msg))
	h := &Handler{Next: next, cfg: passThroughConfig(), view: staticView{}, intn: rand.IntN, now: time.Now}
	ctx := context.Background()
	w := discardWriter{&test.ResponseWriter{}}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.example.com.", dns.TypeA}, {"www.example.com.", dns.TypeAAAA}, {"sip1.example.org.", dns.TypeA},
		{"_ldap._tcp.example.com.", dns.TypeSRV}, {"_sip._tcp.example.org.", dns.TypeSRV}, {"example.com.", dns.TypeMX},
	} {
		req := new(dns.Msg).SetQuestion(q.name, q.qtype)
		base := testing.AllocsPerRun(1000, func() { next.ServeDNS(ctx, w, req) })
		got := testing.AllocsPerRun(1000, func() { h.ServeDNS(ctx, w, req) })
		if got != base {
			t.Errorf("%s %s: %v allocations per query, want %v (those of the next plugin alone)", q.name, dns.TypeToString[q.qtype], got, base)
		}
	}
}
