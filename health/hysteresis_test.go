package health

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/probe"
)

func stateLetter(s State) byte { return "?UD"[s] }

// TestHysteresis feeds probe results ('+' success, '-' failure) to one address and checks its state after
// each one ('?' unknown, 'U' up, 'D' down).
func TestHysteresis(t *testing.T) {
	tests := []struct {
		name         string
		from         State
		fails, rises int
		in, want     string
	}{
		{"new address up on first success", Unknown, 3, 2, "+", "U"},
		{"new address down after fails, not 1", Unknown, 3, 2, "---", "??D"},
		{"new address: a success resets the failures", Unknown, 3, 2, "--+---", "??UUUD"},
		{"new address with fails 1", Unknown, 1, 1, "-+-", "DUD"},
		{"up stays up below fails", Up, 3, 2, "--+--+--", "UUUUUUUU"},
		{"up goes down after fails", Up, 3, 2, "---", "UUD"},
		{"down needs rises", Down, 3, 2, "+-+-+-", "DDDDDD"},
		{"down comes up after rises", Down, 3, 2, "-++", "DDU"},
		{"down with rises 3", Down, 3, 3, "++-+++", "DDDDDU"},
		{"flapping never flips from up", Up, 2, 2, "-+-+-+-+-+", "UUUUUUUUUU"},
		{"flapping never flips from down", Down, 2, 2, "+-+-+-+-+-", "DDDDDDDDDD"},
		{"full cycle", Up, 2, 2, "--++--", "UDDUUD"},
		{"long runs stay put", Down, 2, 2, "------++++", "DDDDDDDUUU"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := addrHealth{State: tc.from}
			var got strings.Builder
			for _, c := range tc.in {
				h = h.next(c == '+', tc.fails, tc.rises)
				got.WriteByte(stateLetter(h.State))
				if h.Fails > tc.fails || h.Rises > tc.rises || h.Fails < 0 || h.Rises < 0 {
					t.Fatalf("counters out of range: %+v", h)
				}
			}
			if got.String() != tc.want {
				t.Errorf("%s from %c: got %s, want %s", tc.in, stateLetter(tc.from), got.String(), tc.want)
			}
		})
	}
}

func TestChecksToFlip(t *testing.T) {
	const fails, rises = 3, 2
	a := func(s State, f, r int) addrState { return addrState{h: addrHealth{State: s, Fails: f, Rises: r}} }
	tests := []struct {
		name string
		as   []addrState
		want int
	}{
		{"nothing probed", nil, 0},
		{"one fresh up", []addrState{a(Up, 0, 1)}, 3},
		{"one up with a failure", []addrState{a(Up, 1, 0)}, 2},
		{"up needs the slowest up address down", []addrState{a(Up, 2, 0), a(Up, 0, 2)}, 3},
		{"down addresses do not hold an up target", []addrState{a(Up, 2, 0), a(Down, 3, 0)}, 1},
		{"unknown address keeps an up target up", []addrState{a(Up, 2, 0), a(Unknown, 0, 0)}, 3},
		{"down fresh", []addrState{a(Down, 3, 0)}, 2},
		{"down with a success", []addrState{a(Down, 0, 1), a(Down, 3, 0)}, 1},
		{"unknown", []addrState{a(Unknown, 1, 0), a(Down, 3, 0)}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := checksToFlip(tc.as, fails, rises); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestTargetState(t *testing.T) {
	a := func(s State) addrState { return addrState{h: addrHealth{State: s}} }
	tests := []struct {
		as   []addrState
		want State
	}{
		{nil, Unknown},
		{[]addrState{a(Down), a(Down)}, Down},
		{[]addrState{a(Down), a(Up)}, Up},
		{[]addrState{a(Down), a(Unknown)}, Unknown},
		{[]addrState{a(Unknown), a(Up)}, Up},
	}
	for i, tc := range tests {
		if got := targetState(tc.as); got != tc.want {
			t.Errorf("%d: got %d, want %d", i, got, tc.want)
		}
	}
}

var (
	a1 = netip.MustParseAddr("192.0.2.1")
	a2 = netip.MustParseAddr("192.0.2.2")
	a3 = netip.MustParseAddr("2001:db8::3")
)

func results(up ...bool) []probe.Result {
	rs := make([]probe.Result, len(up))
	for i, u := range up {
		rs[i] = probe.Result{Up: u}
		if !u {
			rs[i].Reason = "connection refused"
		}
	}
	return rs
}

// TestAdvance drives the per-target state through rounds and checks the whole Status after each.
func TestAdvance(t *testing.T) {
	c := Config{Interval: 10 * time.Second, Fails: 2, Rises: 2}.withDefaults()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * c.Interval) }
	res := normalize(Resolution{Addrs: []netip.Addr{a3, a2, a1, a2}})

	type step struct {
		r          round
		state      State
		up, down   []netip.Addr
		untilIn    int // intervals after the round's start; -1: zero
		changed    bool
		reasonPart string
	}
	steps := []step{
		{r: round{start: at(0), res: res, resolved: true, probed: res.Addrs, results: results(false, false, false)},
			state: Unknown, up: res.Addrs, untilIn: 1},
		{r: round{start: at(1), res: res, resolved: true, probed: res.Addrs, results: results(false, false, false)},
			state: Down, down: res.Addrs, untilIn: 2, changed: true, reasonPart: "192.0.2.1: connection refused; 192.0.2.2: connection refused; 2001:db8::3: connection refused"},
		{r: round{start: at(2), res: res, resolved: true, probed: res.Addrs, results: results(false, true, false)},
			state: Down, down: res.Addrs, untilIn: 1},
		// The resolver failed: the previous addresses stand and are probed.
		{r: round{start: at(3), probed: res.Addrs, results: results(false, true, false)},
			state: Up, up: []netip.Addr{a2}, down: []netip.Addr{a1, a3}, untilIn: 2, changed: true, reasonPart: "192.0.2.2: up"},
		{r: round{start: at(4), res: res, resolved: true, probed: res.Addrs, results: results(true, false, true)},
			state: Up, up: []netip.Addr{a2}, down: []netip.Addr{a1, a3}, untilIn: 1},
		{r: round{start: at(5), res: res, resolved: true, probed: res.Addrs, results: results(true, false, true)},
			state: Up, up: []netip.Addr{a1, a3}, down: []netip.Addr{a2}, untilIn: 2},
		// Addresses out of scope: nothing probed, listed as up (unknown), the state is unknown and cannot
		// change by probing.
		{r: round{start: at(6), res: res, resolved: true},
			state: Unknown, up: res.Addrs, untilIn: -1, changed: true, reasonPart: "no address in scope"},
		{r: round{start: at(7), res: Resolution{}, resolved: true},
			state: Unknown, untilIn: -1},
	}
	s := unprobed
	for i, st := range steps {
		ns, reason := advance(&c, s, st.r)
		if ns.status.State != st.state {
			t.Fatalf("step %d: state %d, want %d", i, ns.status.State, st.state)
		}
		if !slices.Equal(ns.status.Up, st.up) || !slices.Equal(ns.status.Down, st.down) {
			t.Errorf("step %d: up %v down %v, want %v %v", i, ns.status.Up, ns.status.Down, st.up, st.down)
		}
		wantUntil := time.Time{}
		if st.untilIn >= 0 {
			wantUntil = st.r.start.Add(time.Duration(st.untilIn) * c.Interval)
		}
		if !ns.status.Until.Equal(wantUntil) {
			t.Errorf("step %d: until %v, want %v", i, ns.status.Until, wantUntil)
		}
		if (reason != "") != st.changed || !strings.Contains(reason, st.reasonPart) {
			t.Errorf("step %d: reason %q, want change %v containing %q", i, reason, st.changed, st.reasonPart)
		}
		if !ns.status.Resolved || !ns.status.Checked.Equal(st.r.start) {
			t.Errorf("step %d: resolved %v checked %v", i, ns.status.Resolved, ns.status.Checked)
		}
		s = ns
	}
	if !s.status.NoAddress {
		t.Errorf("empty resolution: NoAddress not set")
	}
}

func TestAdvanceUnresolved(t *testing.T) {
	c := Config{}.withDefaults()
	ns, reason := advance(&c, unprobed, round{start: time.Now()})
	if ns.status.Resolved || ns.status.NoAddress || ns.status.State != Unknown || reason != "" {
		t.Errorf("failed first resolution: %+v %q", ns.status, reason)
	}
	ns, _ = advance(&c, ns, round{start: time.Now(), resolved: true, res: Resolution{CNAME: true}})
	if !ns.status.Resolved || !ns.status.CNAME || !ns.status.NoAddress {
		t.Errorf("CNAME without address: %+v", ns.status)
	}
}

func TestPickAddrs(t *testing.T) {
	all := normalize(Resolution{Addrs: []netip.Addr{
		netip.MustParseAddr("::ffff:192.0.2.9"), a3, a2, netip.MustParseAddr("198.51.100.1"), a1,
	}}).Addrs
	if all[len(all)-1] != a3 || all[2] != netip.MustParseAddr("192.0.2.9") {
		t.Fatalf("normalize: %v", all)
	}
	in := func(a netip.Addr) bool { return netip.MustParsePrefix("192.0.2.0/24").Contains(a) }
	if got := pickAddrs(all, in, 2); !slices.Equal(got, []netip.Addr{a1, a2}) {
		t.Errorf("scoped, max 2: %v", got)
	}
	if got := pickAddrs(all, nil, 10); !slices.Equal(got, all) {
		t.Errorf("unscoped: %v", got)
	}
	if got := pickAddrs(all, func(netip.Addr) bool { return false }, 4); got != nil {
		t.Errorf("nothing in scope: %v", got)
	}
}

// TestPickAddrsBothFamilies: a target with four IPv4 addresses and one IPv6 address has its IPv6 address
// probed too (issue 20 item 5: every IPv4 address sorts first, and the first four left ::1 unprobed, counted
// as up and kept in answers however dead); a family that cannot fill its half leaves it to the other.
func TestPickAddrsBothFamilies(t *testing.T) {
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}) }
	v6 := func(i int) netip.Addr { return netip.AddrFrom16([16]byte{15: byte(i)}) }
	for _, tc := range []struct {
		name      string
		in        []netip.Addr
		max       int
		wantV4, n int
	}{
		{"4 v4 + 1 v6", []netip.Addr{v4(1), v4(2), v4(3), v4(4), v6(1)}, 4, 3, 4},
		{"6 v4 + 6 v6", []netip.Addr{v4(1), v4(2), v4(3), v4(4), v4(5), v4(6), v6(1), v6(2), v6(3), v6(4), v6(5), v6(6)}, 4, 2, 4},
		{"1 v4 + 5 v6", []netip.Addr{v4(1), v6(1), v6(2), v6(3), v6(4), v6(5)}, 4, 1, 4},
		{"6 v4 only", []netip.Addr{v4(1), v4(2), v4(3), v4(4), v4(5), v4(6)}, 4, 4, 4},
		{"max 1", []netip.Addr{v4(1), v6(1)}, 1, 1, 1},
		{"max 3", []netip.Addr{v4(1), v4(2), v6(1), v6(2)}, 3, 2, 3},
	} {
		got := pickAddrs(tc.in, nil, tc.max)
		n4 := 0
		for _, a := range got {
			if a.Is4() {
				n4++
			}
		}
		if len(got) != tc.n || n4 != tc.wantV4 || !slices.IsSortedFunc(got, netip.Addr.Compare) {
			t.Errorf("%s: picked %v, want %d addresses, %d of them IPv4, sorted", tc.name, got, tc.n, tc.wantV4)
		}
		if tc.n > tc.wantV4 && !slices.Contains(got, v6(1)) {
			t.Errorf("%s: lowest IPv6 address not probed: %v", tc.name, got)
		}
	}
}
