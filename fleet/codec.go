package fleet

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

// What travels between members. memberlist moves the bytes (encrypted with fleet_key) and this file gives
// them meaning: a message is one type octet and a JSON body. Everything decoded is checked before any of
// it reaches a Monitor, so bytes from a member that is broken, or from an older or newer build, are
// dropped, never trusted and never a panic.
const (
	msgState byte = 's' // one health.Shared: an owner's round
	msgWant  byte = 'w' // one wantMsg: a member keeps a target and relies on its owners
)

// Bounds of what a message may carry.
const (
	maxName     = 255 // a DNS name in presentation form
	maxProber   = 255
	maxAddrs    = 64 // resolved addresses of one target
	maxProbed   = 16 // probed addresses of one target (max_addrs is 4 by default)
	maxReason   = 512
	maxStates   = 1 << 20 // states in one push/pull
	futureSkew  = time.Minute
	maxStateLen = 64 << 20 // octets of one push/pull
)

var (
	errShort   = errors.New("fleet: empty message")
	errType    = errors.New("fleet: unknown message type")
	errInvalid = errors.New("fleet: invalid message")
)

type wireKey struct {
	T string `json:"t"`           // target, lower case, fully qualified
	P uint16 `json:"p"`           // port
	K string `json:"k"`           // probe kind
	X string `json:"x,omitempty"` // transport
	D string `json:"d,omitempty"` // service domain
}

type wireAddr struct {
	A string `json:"a"`           // address
	S uint8  `json:"s"`           // state
	F int    `json:"f,omitempty"` // consecutive failures
	R int    `json:"r,omitempty"` // consecutive successes
	U bool   `json:"u,omitempty"` // last probe up
	W string `json:"w,omitempty"` // last probe's reason
	D int64  `json:"d,omitempty"` // last probe's round trip, ns
}

type wireState struct {
	wireKey
	By  string     `json:"by"`           // prober
	C   int64      `json:"c"`            // checked, Unix ns on the prober's clock: the version
	S   int64      `json:"s,omitempty"`  // since, Unix ns
	R   bool       `json:"r,omitempty"`  // resolved
	CN  bool       `json:"cn,omitempty"` // a CNAME
	TTL uint32     `json:"ttl,omitempty"`
	RA  []string   `json:"ra,omitempty"` // resolved addresses
	A   []wireAddr `json:"a,omitempty"`  // probed addresses
}

type wantMsg struct {
	wireKey
	Dom string `json:"dom,omitempty"` // the domain its probes name, for a key that does not carry it
}

func keyWire(k health.Key) wireKey {
	return wireKey{T: k.Target, P: k.Port, K: string(k.Method.Kind), X: string(k.Method.Transport), D: k.Domain}
}

var kinds = map[probe.Kind]bool{probe.KindNone: true, probe.KindTCP: true, probe.KindTLS: true, probe.KindSIP: true,
	probe.KindXMPPClient: true, probe.KindXMPPServer: true}

var transports = map[probe.Transport]bool{"": true, probe.UDP: true, probe.TCP: true, probe.TLS: true}

// validName reports whether s is a lower-case, fully qualified domain name, or empty when empty is allowed.
func validName(s string, empty bool) bool {
	if s == "" {
		return empty
	}
	if len(s) > maxName || strings.ToLower(s) != s {
		return false
	}
	// Presentation form, as miekg/dns writes names: printable ASCII, anything else escaped (\DDD).
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	_, ok := dns.IsDomainName(s)
	return ok
}

func (w wireKey) key() (health.Key, error) {
	if !validName(w.T, false) || !dns.IsFqdn(w.T) || len(w.D) > maxName || !kinds[probe.Kind(w.K)] || !transports[probe.Transport(w.X)] {
		return health.Key{}, errInvalid
	}
	if w.D != "" && !validName(w.D, false) {
		return health.Key{}, errInvalid
	}
	return health.NewKey(w.T, w.P, probe.Method{Kind: probe.Kind(w.K), Transport: probe.Transport(w.X)}, w.D), nil
}

func encodeState(s health.Shared) []byte {
	w := wireState{wireKey: keyWire(s.Key), By: s.Prober, C: s.Checked.UnixNano(), R: s.Resolved, CN: s.Res.CNAME, TTL: s.Res.TTL}
	if !s.Since.IsZero() {
		w.S = s.Since.UnixNano()
	}
	for _, a := range s.Res.Addrs {
		w.RA = append(w.RA, a.String())
	}
	for _, a := range s.Addrs {
		w.A = append(w.A, wireAddr{A: a.Addr.String(), S: uint8(a.State), F: a.Fails, R: a.Rises, U: a.Up, W: a.Reason, D: int64(a.RTT)})
	}
	b, _ := json.Marshal(w) // plain values only: cannot fail
	return append([]byte{msgState}, b...)
}

// state checks w and returns the state it carries, for a member whose clock reads now.
func (w *wireState) state(now time.Time) (health.Shared, error) {
	k, err := w.key()
	if err != nil {
		return health.Shared{}, err
	}
	if w.By == "" || len(w.By) > maxProber || !utf8.ValidString(w.By) || w.C <= 0 || len(w.RA) > maxAddrs || len(w.A) > maxProbed {
		return health.Shared{}, errInvalid
	}
	checked := time.Unix(0, w.C)
	if checked.After(now.Add(futureSkew)) {
		return health.Shared{}, errInvalid // a version from the future would win over every real one
	}
	s := health.Shared{Key: k, Domain: k.Domain, Prober: w.By, Checked: checked, Resolved: w.R,
		Res: health.Resolution{CNAME: w.CN, TTL: w.TTL}}
	if w.S > 0 {
		s.Since = time.Unix(0, w.S)
	}
	for _, a := range w.RA {
		ip, err := netip.ParseAddr(a)
		if err != nil || ip.Zone() != "" {
			return health.Shared{}, errInvalid
		}
		s.Res.Addrs = append(s.Res.Addrs, ip)
	}
	for _, a := range w.A {
		ip, err := netip.ParseAddr(a.A)
		if err != nil || ip.Zone() != "" || a.S > uint8(health.Down) || a.F < 0 || a.R < 0 || a.D < 0 ||
			len(a.W) > maxReason || !utf8.ValidString(a.W) {
			return health.Shared{}, errInvalid
		}
		s.Addrs = append(s.Addrs, health.SharedAddr{Addr: ip, State: health.State(a.S), Fails: a.F, Rises: a.R, Up: a.U,
			Reason: a.W, RTT: time.Duration(a.D)})
	}
	return s, nil
}

func encodeWant(k health.Key, domain string) []byte {
	b, _ := json.Marshal(wantMsg{wireKey: keyWire(k), Dom: domain})
	return append([]byte{msgWant}, b...)
}

// message is one decoded message: a state or a want.
type message struct {
	typ    byte
	state  health.Shared
	want   health.Key
	domain string
}

// decode checks and decodes one message.
func decode(b []byte, now time.Time) (message, error) {
	if len(b) == 0 {
		return message{}, errShort
	}
	switch b[0] {
	case msgState:
		var w wireState
		if err := json.Unmarshal(b[1:], &w); err != nil {
			return message{}, err
		}
		s, err := w.state(now)
		return message{typ: msgState, state: s}, err
	case msgWant:
		var w wantMsg
		if err := json.Unmarshal(b[1:], &w); err != nil {
			return message{}, err
		}
		k, err := w.key()
		if err != nil || (w.Dom != "" && !validName(w.Dom, false)) {
			return message{}, errInvalid
		}
		d := k.Domain
		if d == "" {
			d = w.Dom
		}
		return message{typ: msgWant, want: k, domain: d}, nil
	}
	return message{}, errType
}

// encodeStates encodes the states of a push/pull: a JSON array of states.
func encodeStates(ss []health.Shared) []byte {
	ws := make([]json.RawMessage, 0, len(ss))
	for _, s := range ss {
		ws = append(ws, encodeState(s)[1:])
	}
	b, _ := json.Marshal(ws)
	return b
}

// decodeStates decodes a push/pull's states, skipping the ones that do not check out.
func decodeStates(b []byte, now time.Time) ([]health.Shared, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) > maxStateLen {
		return nil, errInvalid
	}
	var ws []json.RawMessage
	if err := json.Unmarshal(b, &ws); err != nil {
		return nil, err
	}
	if len(ws) > maxStates {
		return nil, errInvalid
	}
	out := make([]health.Shared, 0, len(ws))
	for _, raw := range ws {
		var w wireState
		if json.Unmarshal(raw, &w) != nil {
			continue
		}
		if s, err := w.state(now); err == nil {
			out = append(out, s)
		}
	}
	return out, nil
}
