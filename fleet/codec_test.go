package fleet

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

func testState() health.Shared {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	now := time.Unix(0, time.Now().UnixNano())
	return health.Shared{
		Key:     health.NewKey("sip.example.com.", 5061, probe.Method{Kind: probe.KindXMPPClient, Transport: probe.TLS}, "example.com"),
		Domain:  "example.com",
		Prober:  "coredns-0@10.0.0.1:7946",
		Checked: now, Since: now.Add(-time.Minute), Resolved: true,
		Res:   health.Resolution{Addrs: []netip.Addr{a, b}, TTL: 300},
		Addrs: []health.SharedAddr{{Addr: a, State: health.Up, Rises: 2, Up: true, RTT: time.Millisecond}, {Addr: b, State: health.Down, Fails: 3, Reason: "connection refused"}},
	}
}

func TestStateRoundTrip(t *testing.T) {
	s := testState()
	m, err := decode(encodeState(s), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m.typ != msgState || !reflect.DeepEqual(m.state, s) {
		t.Fatalf("decoded %+v, want %+v", m.state, s)
	}
	ss, err := decodeStates(encodeStates([]health.Shared{s, s}), time.Now())
	if err != nil || len(ss) != 2 || !reflect.DeepEqual(ss[1], s) {
		t.Fatalf("push/pull: %v %+v", err, ss)
	}
	w, err := decode(encodeWant(s.Key, "example.com"), time.Now())
	if err != nil || w.typ != msgWant || w.want != s.Key || w.domain != "example.com" {
		t.Fatalf("want: %v %+v", err, w)
	}
}

// TestDecodeRejects: messages that do not check out are dropped, not adopted.
func TestDecodeRejects(t *testing.T) {
	now := time.Now()
	for name, mutate := range map[string]func(*wireState){
		"future version":  func(w *wireState) { w.C = now.Add(time.Hour).UnixNano() },
		"no version":      func(w *wireState) { w.C = 0 },
		"no prober":       func(w *wireState) { w.By = "" },
		"bad target":      func(w *wireState) { w.T = "not a name" },
		"relative target": func(w *wireState) { w.T = "sip.example.com" },
		"upper case":      func(w *wireState) { w.T = "SIP.example.com." },
		"bad kind":        func(w *wireState) { w.K = "http" },
		"bad transport":   func(w *wireState) { w.X = "sctp" },
		"bad address":     func(w *wireState) { w.RA = []string{"300.1.1.1"} },
		"bad state":       func(w *wireState) { w.A[0].S = 9 },
		"negative fails":  func(w *wireState) { w.A[0].F = -1 },
		"zoned address":   func(w *wireState) { w.A[0].A = "fe80::1%eth0" },
		"too many":        func(w *wireState) { w.A = make([]wireAddr, maxProbed+1) },
	} {
		s := testState()
		w := wireState{wireKey: keyWire(s.Key), By: s.Prober, C: s.Checked.UnixNano(), RA: []string{"192.0.2.1"},
			A: []wireAddr{{A: "192.0.2.1", S: 1}}}
		mutate(&w)
		if _, err := w.state(now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestDecodeHostileBytes: whatever bytes arrive, decoding never panics. Random bytes, and valid messages
// cut and flipped at random, stand in for what a fuzzer finds (FuzzDecode goes on from here).
func TestDecodeHostileBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	valid := [][]byte{encodeState(testState()), encodeWant(testState().Key, "example.com"), encodeStates([]health.Shared{testState()})}
	now := time.Now()
	for range 20000 {
		var b []byte
		switch rng.IntN(3) {
		case 0:
			b = make([]byte, rng.IntN(64))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
		default:
			b = bytes.Clone(valid[rng.IntN(len(valid))])
			for range rng.IntN(4) + 1 {
				if len(b) == 0 {
					break
				}
				switch rng.IntN(3) {
				case 0:
					b = b[:rng.IntN(len(b))]
				case 1:
					b[rng.IntN(len(b))] = byte(rng.Uint32())
				case 2:
					i := rng.IntN(len(b))
					b = append(b[:i:i], append([]byte(`"x":[1e999,null,{}],`), b[i:]...)...)
				}
			}
		}
		_, _ = decode(b, now)
		_, _ = decodeStates(b, now)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encodeState(testState()))
	f.Add(encodeWant(testState().Key, "example.com"))
	f.Add(encodeStates([]health.Shared{testState()}))
	f.Add([]byte{msgState, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		now := time.Now()
		if m, err := decode(b, now); err == nil && m.typ == msgState {
			// Whatever decodes re-encodes to the same state.
			m2, err := decode(encodeState(m.state), now)
			if err != nil || !reflect.DeepEqual(m.state, m2.state) {
				t.Fatalf("%q: re-encoded state does not decode alike: %v", b, err)
			}
		}
		_, _ = decodeStates(b, now)
	})
}
