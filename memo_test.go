package srvhealth

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

// chainAsk sends name's SRV query through hd and returns the answer.
func chainAsk(t *testing.T, hd plugin.Handler, name string) *dns.Msg {
	t.Helper()
	w := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := hd.ServeDNS(context.Background(), w, new(dns.Msg).SetQuestion(name, dns.TypeSRV)); err != nil || w.Msg == nil {
		t.Fatalf("%s: %v", name, err)
	}
	return w.Msg
}

// addressOwners returns the owner names of the address records of m's additional section.
func addressOwners(m *dns.Msg) map[string]bool {
	out := map[string]bool{}
	for _, rr := range m.Extra {
		if t := rr.Header().Rrtype; t == dns.TypeA || t == dns.TypeAAAA {
			out[rr.Header().Name] = true
		}
	}
	return out
}

// servedTargets returns the targets of the SRV records of m.
func servedTargets(m *dns.Msg) map[string]bool {
	out := map[string]bool{}
	for _, rr := range m.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out[s.Target] = true
		}
	}
	return out
}

// setChainState has h's monitor adopt state for target's _sip._udp key, checked at checked.
func setChainState(t *testing.T, h *Handler, target, v4 string, state health.State, checked time.Time) {
	t.Helper()
	svc := h.cfg.match("_sip._udp.voip.test.")
	s := health.Shared{Key: health.NewKey(target, 5060, svc.Method, "voip.test"), Domain: "voip.test", Prober: "test",
		Checked: checked, Since: checked, Resolved: true,
		Res:   health.Resolution{Addrs: []netip.Addr{netip.MustParseAddr(v4)}, TTL: 300},
		Addrs: []health.SharedAddr{{Addr: netip.MustParseAddr(v4), State: state, Up: state == health.Up}}}
	if state == health.Down {
		s.Addrs[0].Fails = h.cfg.Fails
	}
	if !h.monitor.Adopt(s) {
		t.Fatalf("%s %v not adopted", target, state)
	}
}

// TestMemoFollowsState checks that the verdicts kept between answers are those of the moment: a target
// that goes down leaves the very next answer and comes back in the one after it is up again, while
// answers in between reuse what was judged.
func TestMemoFollowsState(t *testing.T) {
	h := chainHandler(t, chainFile(t))
	const name = "_sip._udp.voip.test."
	got := servedTargets(chainAsk(t, h, name))
	if !got["sip1.voip.test."] || got["sip4.voip.test."] {
		t.Fatalf("served %v, want sip1 and not the dead sip4", got)
	}
	v, _ := h.memo.find(name)
	chainAsk(t, h, name)
	if w, _ := h.memo.find(name); v == nil || w != v {
		t.Fatal("the second answer of an unchanged RRset and state did not reuse the verdicts of the first")
	}

	checked := time.Now().Add(time.Second)
	setChainState(t, h, "sip1.voip.test.", "127.77.1.1", health.Down, checked)
	for range 2 { // the answer that finds the change, and the one that reuses what it found
		m := chainAsk(t, h, name)
		if got := servedTargets(m); got["sip1.voip.test."] || !got["sip2.voip.test."] {
			t.Errorf("after sip1 went down: served %v, want sip2 and not sip1", got)
		}
		if got := addressOwners(m); got["sip1.voip.test."] || !got["sip2.voip.test."] {
			t.Errorf("after sip1 went down: addresses of %v, want sip2's and not sip1's", got)
		}
	}
	setChainState(t, h, "sip1.voip.test.", "127.77.1.1", health.Up, checked.Add(time.Second))
	for range 2 {
		m := chainAsk(t, h, name)
		if got := servedTargets(m); !got["sip1.voip.test."] {
			t.Errorf("after sip1 came back: served %v, want sip1", got)
		}
		if got := addressOwners(m); !got["sip1.voip.test."] || got["sip4.voip.test."] {
			t.Errorf("after sip1 came back: addresses of %v, want sip1's and not the dead sip4's", got)
		}
	}
}

// TestMemoCopies checks the TTL-capped copies: answers capped at the same TTL share them, and the zone's
// own records are never changed.
func TestMemoCopies(t *testing.T) {
	f := chainFile(t)
	h := chainHandler(t, f)
	h.now = func() time.Time { return time.Now().Add(-time.Hour) } // TTL max_ttl for the whole test
	const name = "_xmpp-server._tcp.voip.test."
	a, b := chainAsk(t, h, name), chainAsk(t, h, name)
	shared := 0
	for _, ra := range append(a.Answer, a.Extra...) {
		if ra.Header().Ttl != 30 {
			t.Errorf("%s: TTL %d, want max_ttl 30", ra, ra.Header().Ttl)
		}
		for _, rb := range append(b.Answer, b.Extra...) {
			if ra == rb {
				shared++
			}
		}
	}
	if shared != len(a.Answer)+len(a.Extra) {
		t.Errorf("%d of %d records shared by two answers at the same TTL, want all", shared, len(a.Answer)+len(a.Extra))
	}
	for _, rr := range append(chainAsk(t, f, name).Answer, chainAsk(t, f, name).Extra...) {
		if rr.Header().Ttl != 300 {
			t.Errorf("the zone's record %s was changed", rr)
		}
	}
}

// freshCopies is a next plugin that answers with new copies of next's records every time, as cache does.
type freshCopies struct{ next plugin.Handler }

func (f freshCopies) Name() string { return "fresh" }

func (f freshCopies) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	f.next.ServeDNS(ctx, rec, r)
	return 0, w.WriteMsg(rec.Msg.Copy())
}

// TestMemoFreshUpstream checks that copies are not kept for an upstream that hands out new records for
// every answer (they would never serve again), and that its answers are capped all the same.
func TestMemoFreshUpstream(t *testing.T) {
	h := chainHandler(t, freshCopies{chainFile(t)})
	const name = "_xmpp-server._tcp.voip.test."
	for range 3 {
		for _, rr := range chainAsk(t, h, name).Answer {
			if rr.Header().Ttl > 30 {
				t.Errorf("%s: TTL above max_ttl", rr)
			}
		}
	}
	v, _ := h.memo.find(name)
	if v == nil || !v.fresh.Load() {
		t.Fatal("copies still kept for an upstream whose records are new in every answer")
	}
	m := chainAsk(t, h, name)
	if got := addressOwners(m); !got["xmpp1.voip.test."] || !got["xmpp2.voip.test."] {
		t.Errorf("additional section %v, want the addresses of xmpp1 and xmpp2", got)
	}
}

// wildSRV answers any SRV question with n records whose targets are under elsewhere.test, each with
// three addresses in the additional section: the answers of a wildcard zone, or of an upstream that makes them up.
type wildSRV struct{ n int }

func (wildSRV) Name() string { return "wild" }

func (w wildSRV) ServeDNS(ctx context.Context, rw dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := new(dns.Msg).SetReply(r)
	name := r.Question[0].Name
	for i := range w.n {
		target := fmt.Sprintf("t%d.%s", i, "elsewhere.test.") // outside the probe scope: judged without the monitor
		m.Answer = append(m.Answer, &dns.SRV{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 300},
			Priority: 10, Weight: 10, Port: 5060, Target: target})
		for j := range 3 {
			m.Extra = append(m.Extra, &dns.A{Hdr: dns.RR_Header{Name: target, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
				A: netip.AddrFrom4([4]byte{127, 88, byte(i), byte(j)}).AsSlice()})
		}
	}
	return 0, rw.WriteMsg(m)
}

// TestMemoBoundedUnderFlood sends 20,000 distinct SRV names, each answered with memoMaxRecords records,
// and checks that the memory of the query path holds at most memoSlots names and memoMaxCopies copies
// each, and that the heap it keeps stays within the bound the README gives (memoBound).
func TestMemoBoundedUnderFlood(t *testing.T) {
	cfg := newConfig([]string{"voip.test."}) // probe scope: names under voip.test
	h, err := newHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.monitor.Stop)
	h.Next = wildSRV{n: memoMaxRecords}
	ctx := context.Background()
	w := &packWriter{}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const names = 20000
	for i := range names {
		h.ServeDNS(ctx, w, new(dns.Msg).SetQuestion(fmt.Sprintf("_sip._udp.n%d.voip.test.", i), dns.TypeSRV))
	}
	kept, copiesMax := 0, 0
	for i := range h.memo.slots {
		if v := h.memo.slots[i].Load(); v != nil {
			kept++
			if c := v.copies.Load(); c != nil {
				copiesMax = max(copiesMax, len(c.to))
			}
		}
	}
	if kept > memoSlots || kept < memoSlots/2 {
		t.Errorf("%d names kept after %d, want at most %d (and most slots used)", kept, names, memoSlots)
	}
	if copiesMax > memoMaxCopies {
		t.Errorf("%d copies kept for one name, want at most %d", copiesMax, memoMaxCopies)
	}

	// The memo's share of the heap: what is freed once the memo is dropped. The monitor's table, which the
	// flood fills too, is held throughout.
	runtime.GC()
	var full runtime.MemStats
	runtime.ReadMemStats(&full)
	h.memo = newMemo()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	held := int64(full.HeapAlloc) - int64(after.HeapAlloc)
	t.Logf("memo of %d names (%d records each): %d KiB", kept, memoMaxRecords, held>>10)
	if held > memoBound {
		t.Errorf("memo holds %d KiB, want at most %d KiB (memoBound)", held>>10, memoBound>>10)
	}

	// An RRset larger than memoMaxRecords is judged every time, never kept.
	h.Next = wildSRV{n: memoMaxRecords + 1}
	const big = "_sip._udp.big.voip.test."
	h.ServeDNS(ctx, w, new(dns.Msg).SetQuestion(big, dns.TypeSRV))
	if v, _ := h.memo.find(big); v != nil {
		t.Errorf("an RRset of %d records was kept", memoMaxRecords+1)
	}
}

// TestInterceptedAllocations checks srvhealth's own allocations per intercepted answer, once its memory
// holds the RRset: one (the sections of the reordered answer, which the plugins before srvhealth may read
// after it returned, so it cannot be reused) beyond what the next plugin makes, whether the answer keeps
// every record or loses one. The next plugin writes file's answer, prepared once.
func TestInterceptedAllocations(t *testing.T) {
	f := chainFile(t)
	ctx := context.Background()
	w := discardWriter{&test.ResponseWriter{}}
	for _, name := range []string{"_xmpp-server._tcp.voip.test.", "_sip._udp.t3.voip.test."} {
		q := new(dns.Msg).SetQuestion(name, dns.TypeSRV)
		answer := chainAsk(t, f, name)
		next := test.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
			m := *answer
			return 0, w.WriteMsg(&m)
		})
		h := chainHandler(t, next)
		h.now = func() time.Time { return time.Now().Add(-time.Hour) } // one TTL for the whole test
		h.ServeDNS(ctx, w, q)
		base := testing.AllocsPerRun(500, func() { next.ServeDNS(ctx, w, q) })
		got := testing.AllocsPerRun(500, func() { h.ServeDNS(ctx, w, q) })
		// Under the race detector sync.Pool drops a quarter of the writers put back, and a new one
		// (with its scratch) is made for the next query: up to one more on average. .ci/run runs this
		// test without it too, where the count is exact.
		want := 1.0
		if raceEnabled {
			want = 2
		}
		if got-base > want || got-base < 1 {
			t.Errorf("%s: %v allocations per query, %v without srvhealth: srvhealth makes %v, want %v", name, got, base, got-base, want)
		}
	}
}
