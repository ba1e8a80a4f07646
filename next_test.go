package srvhealth

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	ot "github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/mocktracer"
)

// TestNextAsNextOrFailure checks that calling the next plugin without plugin.NextOrFailure's writer
// changes nothing anyone can see: the plugin the metrics plugin's recorder names (whether srvhealth is
// right after it, behind another plugin, or handed the recorder itself), and the trace span of the next
// plugin, for intercepted, address and pass-through queries.
func TestNextAsNextOrFailure(t *testing.T) {
	f := chainFile(t)
	h := chainHandler(t, f)
	queries := []*dns.Msg{
		new(dns.Msg).SetQuestion("_sip._udp.voip.test.", dns.TypeSRV), // intercepted
		new(dns.Msg).SetQuestion("sip1.voip.test.", dns.TypeA),        // a target's address (filter_addresses)
		new(dns.Msg).SetQuestion("www.voip.test.", dns.TypeA),         // passed on
		new(dns.Msg).SetQuestion("_ldap._tcp.voip.test.", dns.TypeSRV),
	}
	// The plugin a recorder names when the chain hands it down through NextOrFailure (depth plugins in
	// between). What NextOrFailure's writer around srvhealth's call would have told it: the next plugin's
	// name, when srvhealth passes the query on with the recorder itself as the writer; nothing when
	// srvhealth writes through a writer of its own (its wrapper would wrap that writer, which keeps
	// nothing); and with plugins in between, the name the outermost wrapper gives, that of the plugin
	// right below the recorder, whatever srvhealth does.
	label := func(q *dns.Msg, depth int) string {
		rec := metrics.NewRecorder(&test.ResponseWriter{})
		var hd plugin.Handler = h
		for range depth {
			inner := hd
			hd = test.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
				return plugin.NextOrFailure("outer", inner, ctx, w, r)
			})
		}
		hd.ServeDNS(context.Background(), rec, q)
		return rec.Plugin
	}
	for i, q := range queries {
		for depth := range 3 {
			want := map[bool]string{true: "", false: f.Name()}[i < 2] // intercepted: srvhealth's own writer
			if depth == 1 {
				want = pluginName
			} else if depth > 1 {
				want = "handlerfunc"
			}
			if got := label(q, depth); got != want {
				t.Errorf("%s %s, %d plugins before: the recorder names %q, want %q as through NextOrFailure", q.Question[0].Name, dns.TypeToString[q.Question[0].Qtype], depth, got, want)
			}
		}
	}

	// With a span open, the next plugin runs in a child span of its own name, as NextOrFailure opens it.
	tracer := mocktracer.New()
	for _, q := range queries {
		tracer.Reset()
		span := tracer.StartSpan("query")
		h.ServeDNS(ot.ContextWithSpan(context.Background(), span), &test.ResponseWriter{}, q)
		span.Finish()
		var names []string
		for _, s := range tracer.FinishedSpans() {
			names = append(names, s.OperationName)
		}
		if len(names) != 2 || names[0] != f.Name() {
			t.Errorf("%s: spans %v, want the next plugin's (%s) inside the query's", q.Question[0].Name, names, f.Name())
		}
	}
}
