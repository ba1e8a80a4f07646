package srvhealth

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

// FuzzRewrite feeds the query path arbitrary upstream replies: it must never panic, and what it writes
// must still pack and answer the question.
func FuzzRewrite(f *testing.F) {
	req := new(dns.Msg).SetQuestion("_sip._tcp.example.com.", dns.TypeSRV)
	for _, m := range []*dns.Msg{sipAnswer(req), new(dns.Msg).SetRcode(req, dns.RcodeNameError)} {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	st := map[string]health.Status{
		"sip1.example.com.": {State: health.Down, Resolved: true, Down: []netip.Addr{netip.MustParseAddr("192.0.2.1")}},
		"sip2.example.com.": {State: health.Up, Resolved: true, CNAME: true},
		"standby.example.com.": {State: health.Up, Resolved: true, Until: time.Now().Add(time.Second),
			Up: []netip.Addr{netip.MustParseAddr("2001:db8::1")}},
	}
	f.Fuzz(func(t *testing.T, upstream []byte, do bool) {
		res := new(dns.Msg)
		if err := res.Unpack(upstream); err != nil {
			return
		}
		q := new(dns.Msg).SetQuestion("_sip._tcp.example.com.", dns.TypeSRV)
		if do {
			q.SetEdns0(4096, true)
		}
		for _, policy := range []Policy{ServeAll, NoData, ServFail, Unavailable} {
			cfg := newConfig([]string{"example.com."})
			for i := range cfg.Services {
				cfg.Services[i].AllDown = policy
			}
			h := &Handler{cfg: cfg, view: &fakeView{status: st}, intn: rand.New(rand.NewPCG(1, 1)).IntN, now: time.Now}
			in := res.Copy()
			out, _ := h.rewrite(context.Background(), q, in, cfg.service("_sip._tcp."), nil)
			if out == nil {
				t.Fatal("rewrite returned nil")
			}
			if _, err := out.Pack(); err != nil {
				if _, err0 := res.Pack(); err0 == nil {
					t.Fatalf("rewrite made a packable reply unpackable: %v\n%v", err, out)
				}
			}
		}
	})
}
