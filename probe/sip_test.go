package probe

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/internal/fakepeer"
)

var (
	sipUDP = Method{Kind: KindSIP, Transport: UDP}
	sipTCP = Method{Kind: KindSIP, Transport: TCP}
	sipTLS = Method{Kind: KindSIP, Transport: TLS}
)

func TestDefaultSIPAccept(t *testing.T) {
	for code, want := range map[int]bool{
		100: false, 180: false, // provisional: not a verdict
		200: true, 202: true, 302: true, 401: true, 403: true, 404: true, 405: true, 481: true, 501: true, 603: true,
		408: false, 480: false, 500: false, 503: false, 504: false,
		0: false, 700: false,
	} {
		if got := DefaultSIPAccept(code); got != want {
			t.Errorf("DefaultSIPAccept(%d) = %v, want %v", code, got, want)
		}
	}
}

// sipFake starts a fake SIP server over the transport of m that answers with respond.
func sipFake(t *testing.T, m Method, respond fakepeer.Responder) netip.AddrPort {
	t.Helper()
	switch m.Transport {
	case UDP:
		return fakepeer.UDP(t, fakepeer.SIPPacket(respond))
	case TLS:
		return fakepeer.TLS(t, nil, fakepeer.SIPStream(respond))
	}
	return fakepeer.TCP(t, fakepeer.SIPStream(respond))
}

func TestSIPFakes(t *testing.T) {
	foreign := map[string]string{"Call-ID": "someone-else@elsewhere"}
	tests := []struct {
		name    string
		respond fakepeer.Responder
		opts    Options
		up      bool
		reason  string
	}{
		{name: "200", respond: fakepeer.Answer("200 OK"), up: true, reason: "sip 200 OK"},
		{name: "404 proves a live stack", respond: fakepeer.Answer("404 Not Found"), up: true, reason: "sip 404 Not Found"},
		{name: "503", respond: fakepeer.Answer("503 Service Unavailable"), reason: "sip 503 Service Unavailable"},
		{name: "480", respond: fakepeer.Answer("480 Temporarily Unavailable"), reason: "sip 480 Temporarily Unavailable"},
		{name: "custom accept", respond: fakepeer.Answer("404 Not Found"), reason: "sip 404 Not Found",
			opts: Options{SIPAccept: func(code int) bool { return code == 200 }}},
		{name: "100 then 200", up: true, reason: "sip 200 OK", respond: func(req []byte) [][]byte {
			return [][]byte{fakepeer.Reply(req, "100 Trying", nil), fakepeer.Reply(req, "200 OK", nil)}
		}},
		{name: "100 only", reason: "timeout", respond: fakepeer.Answer("100 Trying")},
		{name: "foreign Call-ID then ours", up: true, reason: "sip 200 OK", respond: func(req []byte) [][]byte {
			return [][]byte{fakepeer.Reply(req, "503 Service Unavailable", foreign), fakepeer.Reply(req, "200 OK", nil)}
		}},
		{name: "foreign Call-ID only", reason: "timeout", respond: func(req []byte) [][]byte {
			return [][]byte{fakepeer.Reply(req, "200 OK", foreign)}
		}},
		{name: "foreign branch only", reason: "timeout", respond: func(req []byte) [][]byte {
			via := strings.Replace(fakepeer.Header(req, "Via"), "branch=z9hG4bK", "branch=z9hG4bKother", 1)
			return [][]byte{fakepeer.Reply(req, "200 OK", map[string]string{"Via": via})}
		}},
		{name: "foreign CSeq only", reason: "timeout", respond: func(req []byte) [][]byte {
			return [][]byte{fakepeer.Reply(req, "200 OK", map[string]string{"CSeq": "1 INVITE"})}
		}},
		{name: "compact headers and a body", up: true, reason: "sip 200 OK", respond: func(req []byte) [][]byte {
			body := "v=0\r\n"
			m := "SIP/2.0 200 OK\r\nv: " + fakepeer.Header(req, "Via") + "\r\ni: " + fakepeer.Header(req, "Call-ID") +
				"\r\nCSeq: " + fakepeer.Header(req, "CSeq") + "\r\nl: 5\r\nContent-Type: application/sdp\r\n\r\n" + body
			return [][]byte{[]byte(m)}
		}},
		{name: "garbage", reason: "malformed reply", respond: func([]byte) [][]byte {
			return [][]byte{[]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")}
		}},
		{name: "status without Call-ID", reason: "malformed reply", respond: func(req []byte) [][]byte {
			return [][]byte{[]byte("SIP/2.0 200 OK\r\nVia: " + fakepeer.Header(req, "Via") + "\r\nCSeq: " + fakepeer.Header(req, "CSeq") + "\r\nContent-Length: 0\r\n\r\n")}
		}},
	}
	for _, m := range []Method{sipUDP, sipTCP, sipTLS} {
		for _, tt := range tests {
			t.Run(m.String()+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				addr := sipFake(t, m, tt.respond)
				// Cases that end in a timeout get a short one: with GOMAXPROCS=2, go test runs two at once.
				timeout := 2 * time.Second
				if tt.reason == "timeout" {
					timeout = 400 * time.Millisecond
				}
				r := mustNew(t, m, tt.opts).Probe(probeCtx(t, timeout), Target{Addr: addr, Domain: "voip.test"})
				if r.Up != tt.up || r.Reason != tt.reason {
					t.Errorf("got up=%v reason %q, want up=%v reason %q", r.Up, r.Reason, tt.up, tt.reason)
				}
				if r.Duration <= 0 {
					t.Errorf("Duration = %v", r.Duration)
				}
				if m.Transport == TLS && r.CertNotAfter.IsZero() {
					t.Error("no CertNotAfter over TLS")
				}
			})
		}
	}
}

func TestSIPRequest(t *testing.T) {
	for _, m := range []Method{sipUDP, sipTCP, sipTLS} {
		t.Run(m.String(), func(t *testing.T) {
			got := make(chan []byte, 1)
			addr := sipFake(t, m, func(req []byte) [][]byte {
				got <- req
				return [][]byte{fakepeer.Reply(req, "200 OK", nil)}
			})
			if r := mustNew(t, m, Options{}).Probe(probeCtx(t, time.Second), Target{Addr: addr, Domain: "voip.test"}); !r.Up {
				t.Fatalf("down: %s", r.Reason)
			}
			req := <-got
			if !bytes.HasPrefix(req, []byte("OPTIONS sip:voip.test SIP/2.0\r\n")) {
				t.Errorf("request line: %q", strings.SplitN(string(req), "\r\n", 2)[0])
			}
			if bytes.Contains(bytes.ReplaceAll(req, []byte("\r\n"), nil), []byte("\n")) {
				t.Error("bare LF in request")
			}
			via := fakepeer.Header(req, "Via")
			if !strings.HasPrefix(via, "SIP/2.0/"+strings.ToUpper(string(m.Transport))+" 127.0.0.1:") ||
				!strings.Contains(via, ";branch=z9hG4bK") || !strings.HasSuffix(via, ";rport") {
				t.Errorf("Via: %q", via)
			}
			for h, want := range map[string]string{
				"Max-Forwards": "70", "To": "<sip:voip.test>", "User-Agent": "srvhealth", "Content-Length": "0",
			} {
				if got := fakepeer.Header(req, h); got != want {
					t.Errorf("%s: %q, want %q", h, got, want)
				}
			}
			if f := fakepeer.Header(req, "From"); !strings.HasPrefix(f, "<sip:srvhealth@voip.test>;tag=") {
				t.Errorf("From: %q", f)
			}
			if c := fakepeer.Header(req, "Call-ID"); !strings.HasSuffix(c, "@srvhealth") || len(c) < 20 {
				t.Errorf("Call-ID: %q", c)
			}
			if c := fakepeer.Header(req, "CSeq"); !strings.HasSuffix(c, " OPTIONS") {
				t.Errorf("CSeq: %q", c)
			}
		})
	}
}

func TestSIPRequestURIWithoutDomain(t *testing.T) {
	got := make(chan []byte, 1)
	addr := sipFake(t, sipUDP, func(req []byte) [][]byte {
		got <- req
		return [][]byte{fakepeer.Reply(req, "200 OK", nil)}
	})
	if r := mustNew(t, sipUDP, Options{}).Probe(probeCtx(t, time.Second), Target{Addr: addr}); !r.Up {
		t.Fatalf("down: %s", r.Reason)
	}
	if want := "OPTIONS sip:" + addr.String() + " SIP/2.0\r\n"; !bytes.HasPrefix(<-got, []byte(want)) {
		t.Errorf("request line is not %q", want)
	}
}

func TestSIPRefused(t *testing.T) {
	for _, m := range []Method{sipUDP, sipTCP, sipTLS} {
		t.Run(m.String(), func(t *testing.T) {
			r := mustNew(t, m, Options{}).Probe(probeCtx(t, 2*time.Second), Target{Addr: fakepeer.ClosedPort(t), Domain: "voip.test"})
			if r.Up || r.Reason != "connection refused" {
				t.Errorf("got up=%v reason %q, want connection refused", r.Up, r.Reason)
			}
			if r.Duration > time.Second {
				t.Errorf("took %v to notice a refusal", r.Duration)
			}
		})
	}
}

// A server that takes the request and never answers must be down by the caller's deadline, not hang.
func TestSIPSilent(t *testing.T) {
	const timeout = 700 * time.Millisecond
	for _, m := range []Method{sipUDP, sipTCP, sipTLS} {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			var addr netip.AddrPort
			switch m.Transport {
			case UDP:
				addr = fakepeer.UDP(t, nil)
			case TCP:
				addr = fakepeer.TCP(t, fakepeer.Silent)
			case TLS:
				addr = fakepeer.TLS(t, nil, fakepeer.Silent)
			}
			r := mustNew(t, m, Options{}).Probe(probeCtx(t, timeout), Target{Addr: addr, Domain: "voip.test"})
			if r.Up || r.Reason != "timeout" {
				t.Errorf("got up=%v reason %q, want timeout", r.Up, r.Reason)
			}
			if r.Duration < timeout-50*time.Millisecond || r.Duration > timeout+500*time.Millisecond {
				t.Errorf("Duration %v, want about %v", r.Duration, timeout)
			}
		})
	}
}

// A TLS server that never starts the handshake is a timeout too.
func TestSIPTLSSilentBeforeHandshake(t *testing.T) {
	t.Parallel()
	addr := fakepeer.TCP(t, fakepeer.Silent)
	r := mustNew(t, sipTLS, Options{}).Probe(probeCtx(t, 300*time.Millisecond), Target{Addr: addr, Domain: "voip.test"})
	if r.Up || r.Reason != "timeout" {
		t.Errorf("got up=%v reason %q, want timeout", r.Up, r.Reason)
	}
}

// RFC 3261 section 17.1.2.2: over UDP the request is sent again after T1 when nothing came back.
func TestSIPUDPRetransmission(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		reqs [][]byte
		at   []time.Time
	)
	addr := fakepeer.UDP(t, func(req []byte, send func([]byte)) {
		mu.Lock()
		reqs, at = append(reqs, req), append(at, time.Now())
		n := len(reqs)
		mu.Unlock()
		if n >= 2 { // lose the first one
			send(fakepeer.Reply(req, "200 OK", nil))
		}
	})
	r := mustNew(t, sipUDP, Options{}).Probe(probeCtx(t, 3*time.Second), Target{Addr: addr, Domain: "voip.test"})
	if !r.Up {
		t.Fatalf("down: %s", r.Reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) != 2 {
		t.Fatalf("server got %d requests, want 2", len(reqs))
	}
	if !bytes.Equal(reqs[0], reqs[1]) {
		t.Errorf("retransmission differs from the original:\n%s\n%s", reqs[0], reqs[1])
	}
	if gap := at[1].Sub(at[0]); gap < sipT1-50*time.Millisecond || gap > sipT1+300*time.Millisecond {
		t.Errorf("retransmitted after %v, want T1 = %v", gap, sipT1)
	}
}

// Timer E doubles: with a silent server, requests go out at 0, T1, 3*T1, 7*T1, ...
func TestSIPUDPRetransmissionBackoff(t *testing.T) {
	t.Parallel()
	var (
		mu sync.Mutex
		n  int
	)
	addr := fakepeer.UDP(t, func([]byte, func([]byte)) { mu.Lock(); n++; mu.Unlock() })
	r := mustNew(t, sipUDP, Options{}).Probe(probeCtx(t, 1800*time.Millisecond), Target{Addr: addr, Domain: "voip.test"})
	if r.Up || r.Reason != "timeout" {
		t.Fatalf("got up=%v reason %q, want timeout", r.Up, r.Reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 3 { // at 0, 0.5 s and 1.5 s; the next would be at 3.5 s
		t.Errorf("server got %d requests in 1.8 s, want 3", n)
	}
}

func TestSIPOversized(t *testing.T) {
	big := strings.Repeat("x", maxReply)
	tests := map[string]fakepeer.Responder{
		"header": fakepeer.Answer("200 OK", "X-Padding: "+big),
		"body":   fakepeer.Answer("200 OK", "Content-Length: 100000"),
		"no end of headers": func([]byte) [][]byte {
			return [][]byte{[]byte("SIP/2.0 200 OK\r\n" + big + big)}
		},
		"endless keep-alives": func([]byte) [][]byte {
			return [][]byte{bytes.Repeat([]byte("\r\n"), maxReply)}
		},
	}
	for name, respond := range tests {
		t.Run(name, func(t *testing.T) {
			addr := fakepeer.TCP(t, fakepeer.SIPStream(respond))
			r := mustNew(t, sipTCP, Options{}).Probe(probeCtx(t, 2*time.Second), Target{Addr: addr, Domain: "voip.test"})
			if r.Up || r.Reason != "reply too large" {
				t.Errorf("got up=%v reason %q, want reply too large", r.Up, r.Reason)
			}
		})
	}
}

// A server that closes the connection in the middle of a response.
func TestSIPTruncated(t *testing.T) {
	addr := fakepeer.TCP(t, func(c net.Conn) {
		fakepeer.ReadRequest(bufio.NewReader(c))
		c.Write([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP x"))
	})
	r := mustNew(t, sipTCP, Options{}).Probe(probeCtx(t, 2*time.Second), Target{Addr: addr, Domain: "voip.test"})
	if r.Up || r.Reason != "malformed reply" {
		t.Errorf("got up=%v reason %q, want malformed reply", r.Up, r.Reason)
	}
}

func TestSIPKeepAliveBeforeResponse(t *testing.T) {
	addr := fakepeer.TCP(t, fakepeer.SIPStream(func(req []byte) [][]byte {
		return [][]byte{[]byte("\r\n\r\n"), fakepeer.Reply(req, "200 OK", nil)}
	}))
	if r := mustNew(t, sipTCP, Options{}).Probe(probeCtx(t, time.Second), Target{Addr: addr, Domain: "voip.test"}); !r.Up {
		t.Errorf("down: %s", r.Reason)
	}
}

func TestParseSIPResponse(t *testing.T) {
	good := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport=5060, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKdef\r\n" +
		"Call-ID: id@host\r\nCSeq: 42 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	res, err := parseSIPResponse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := sipResponse{Code: 200, Phrase: "OK", CallID: "id@host", CSeq: 42, CSeqMethod: "OPTIONS", Branch: "z9hG4bKabc", ContentLength: 0}
	if res != want {
		t.Errorf("got %+v, want %+v", res, want)
	}

	folded := "SIP/2.0 486 Busy Here\nv: SIP/2.0/TCP h;BRANCH=z9hG4bKx\ni: a\ncseq: 7\n  OPTIONS\n\n"
	res, err = parseSIPResponse([]byte(folded))
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 486 || res.Phrase != "Busy Here" || res.Branch != "z9hG4bKx" || res.CSeq != 7 || res.CSeqMethod != "OPTIONS" || res.ContentLength != -1 {
		t.Errorf("folded, compact, LF-only: got %+v", res)
	}

	for _, bad := range []string{
		"",
		"SIP/2.0",
		"SIP/2.0 20 OK\r\n",
		"SIP/2.0 2000 OK\r\n",
		"SIP/2.0 099 Low\r\nVia: a;branch=b\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n",
		"SIP/2.0 700 High\r\nVia: a;branch=b\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n",
		"OPTIONS sip:x SIP/2.0\r\nVia: a;branch=b\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n",
		"SIP/2.0 200 OK\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: a;branch=b\r\nCSeq: 1 OPTIONS\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: a;branch=b\r\nCall-ID: c\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: a;branch=b\r\nCall-ID: c\r\nCSeq: x OPTIONS\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: a;branch=b\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: -1\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: a;branch=b\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nno colon\r\n\r\n",
	} {
		if res, err := parseSIPResponse([]byte(bad)); err == nil {
			t.Errorf("parsed %q as %+v", bad, res)
		}
	}
}

func FuzzParseSIPResponse(f *testing.F) {
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport=5060\r\nCall-ID: id@host\r\nCSeq: 42 OPTIONS\r\nContent-Length: 4\r\n\r\nbody"))
	f.Add([]byte("SIP/2.0 100 Trying\nv: x;branch=y\ni: a\ncseq: 7\n OPTIONS\nl: 0\n\n"))
	f.Add([]byte("\r\n\r\nSIP/2.0 503 Service Unavailable\r\nVia: ,;branch\r\nCall-ID:\r\nCSeq: 4294967296 OPTIONS\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := parseSIPResponse(b)
		if err == nil {
			if res.Code < 100 || res.Code > 699 {
				t.Errorf("accepted code %d", res.Code)
			}
			if res.CallID == "" {
				t.Error("accepted a response without Call-ID")
			}
		}
		msg, err := readSIPMessage(bufio.NewReader(bytes.NewReader(b)))
		if err == nil && len(msg) > maxReply {
			t.Errorf("read a %d-byte message", len(msg))
		}
	})
}

// Over IPv6 the Via sent-by and the request URI carry brackets (RFC 3261 section 25.1, "IPv6reference").
func TestSIPIPv6(t *testing.T) {
	got := make(chan []byte, 1)
	s, err := fakepeer.ListenUDP("[::1]:0", fakepeer.SIPPacket(func(req []byte) [][]byte {
		select {
		case got <- req:
		default: // a retransmission
		}
		return [][]byte{fakepeer.Reply(req, "200 OK", nil)}
	}))
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer s.Close()
	r := mustNew(t, sipUDP, Options{}).Probe(probeCtx(t, time.Second), Target{Addr: s.Addr()})
	if !r.Up {
		t.Fatalf("down: %s", r.Reason)
	}
	req := <-got
	if want := "OPTIONS sip:[::1]:"; !bytes.HasPrefix(req, []byte(want)) {
		t.Errorf("request line does not start with %q: %q", want, req)
	}
	if via := fakepeer.Header(req, "Via"); !strings.HasPrefix(via, "SIP/2.0/UDP [::1]:") {
		t.Errorf("Via: %q", via)
	}
}

// A reason phrase is up to the server (RFC 3261 section 25.1 sets no length), and so is the Server
// header: a 1,000-octet phrase or control characters must not reach logs, metric labels or the status
// TXT (one string of at most 255 octets, RFC 1035 section 3.3) as they came.
func TestSIPHostileText(t *testing.T) {
	phrase := strings.Repeat("Unavailable ", 84)[:1000]
	for _, m := range []Method{sipUDP, sipTCP, sipTLS} {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			for _, tt := range []struct {
				name, status, server, prefix string
			}{
				{"long phrase", "503 " + phrase, "Server: " + phrase, "sip 503 Unavailable Unavailable"},
				{"control characters", "503 Busy\x1b[2J\x07", "Server: Fake\x00SIP\x1b]0;owned\x07", "sip 503 Busy?[2J?"},
			} {
				addr := sipFake(t, m, fakepeer.Answer(tt.status, tt.server))
				r := mustNew(t, m, Options{Details: true}).Probe(probeCtx(t, 2*time.Second), Target{Addr: addr, Domain: "voip.test"})
				if r.Up || !strings.HasPrefix(r.Reason, tt.prefix) {
					t.Errorf("%s: got up=%v reason %q, want down with a reason starting %q", tt.name, r.Up, r.Reason, tt.prefix)
				}
				checkPeerText(t, tt.name+": reason", r.Reason)
				if r.Details == nil || r.Details.SIPServer == "" {
					t.Fatalf("%s: no SIPServer in %+v", tt.name, r.Details)
				}
				checkPeerText(t, tt.name+": SIPServer", r.Details.SIPServer)
			}
		})
	}
}

// RFC 3261 section 7.3.1: parameter values are case-insensitive unless a header's definition says
// otherwise, and tokens always are; the branch is a token (section 25.1, via-branch) and neither
// section 17.1.3 nor section 20.42 says otherwise. A server or proxy that changes its case still
// answers our transaction.
func TestSIPBranchCase(t *testing.T) {
	for _, m := range []Method{sipUDP, sipTCP} {
		t.Run(m.String(), func(t *testing.T) {
			addr := sipFake(t, m, func(req []byte) [][]byte {
				via := fakepeer.Header(req, "Via")
				i := strings.Index(via, ";branch=")
				via = via[:i] + ";BRANCH=" + strings.ToLower(via[i+len(";branch="):])
				return [][]byte{fakepeer.Reply(req, "200 OK", map[string]string{"Via": via})}
			})
			r := mustNew(t, m, Options{}).Probe(probeCtx(t, time.Second), Target{Addr: addr, Domain: "voip.test"})
			if !r.Up || r.Reason != "sip 200 OK" {
				t.Errorf("got up=%v reason %q, want sip 200 OK", r.Up, r.Reason)
			}
		})
	}
}

// Over UDP each datagram stands alone: one that is not a SIP response (a keep-alive, a STUN packet, a
// stray or late datagram on the probe's port) says nothing about our transaction and is skipped, up to
// maxSkipped of them. Only when nothing better came by the deadline is it the reason.
func TestSIPUDPStrayDatagrams(t *testing.T) {
	stun := []byte{0x01, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	foreign := map[string]string{"Call-ID": "someone-else@elsewhere"}
	repeat := func(n int, msg []byte) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = msg
		}
		return out
	}
	tests := []struct {
		name    string
		respond fakepeer.Responder
		up      bool
		reason  string
	}{
		{name: "garbage then ours", up: true, reason: "sip 200 OK", respond: func(req []byte) [][]byte {
			return [][]byte{[]byte("HTTP/1.1 400 Bad Request\r\n\r\n"), fakepeer.Reply(req, "200 OK", nil)}
		}},
		{name: "keep-alive then ours", up: true, reason: "sip 200 OK", respond: func(req []byte) [][]byte {
			return [][]byte{[]byte("\r\n\r\n"), fakepeer.Reply(req, "200 OK", nil)}
		}},
		{name: "STUN then ours", reason: "sip 503 Service Unavailable", respond: func(req []byte) [][]byte {
			return [][]byte{stun, fakepeer.Reply(req, "503 Service Unavailable", nil)}
		}},
		{name: "maxSkipped strays then ours", up: true, reason: "sip 200 OK", respond: func(req []byte) [][]byte {
			out := repeat(maxSkipped/2, []byte("garbage"))
			out = append(out, repeat(maxSkipped-len(out), fakepeer.Reply(req, "200 OK", foreign))...)
			return append(out, fakepeer.Reply(req, "200 OK", nil))
		}},
		{name: "too many strays", reason: "too many stray replies", respond: func(req []byte) [][]byte {
			return append(repeat(maxSkipped+1, fakepeer.Reply(req, "200 OK", foreign)), fakepeer.Reply(req, "200 OK", nil))
		}},
		{name: "garbage only", reason: "malformed reply", respond: func(req []byte) [][]byte {
			return [][]byte{[]byte("garbage")}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := sipFake(t, sipUDP, tt.respond)
			r := mustNew(t, sipUDP, Options{}).Probe(probeCtx(t, 400*time.Millisecond), Target{Addr: addr, Domain: "voip.test"})
			if r.Up != tt.up || r.Reason != tt.reason {
				t.Errorf("got up=%v reason %q, want up=%v reason %q", r.Up, r.Reason, tt.up, tt.reason)
			}
		})
	}
}

// Over a stream, responses to other requests are skipped up to maxSkipped too.
func TestSIPStreamStrays(t *testing.T) {
	foreign := map[string]string{"Call-ID": "someone-else@elsewhere"}
	for n, want := range map[int]string{maxSkipped: "sip 200 OK", maxSkipped + 1: "too many stray replies"} {
		addr := sipFake(t, sipTCP, func(req []byte) [][]byte {
			out := make([][]byte, n, n+1)
			for i := range out {
				out[i] = fakepeer.Reply(req, "100 Trying", foreign)
			}
			return append(out, fakepeer.Reply(req, "200 OK", nil))
		})
		r := mustNew(t, sipTCP, Options{}).Probe(probeCtx(t, 2*time.Second), Target{Addr: addr, Domain: "voip.test"})
		if r.Reason != want {
			t.Errorf("%d foreign responses first: got up=%v reason %q, want %q", n, r.Up, r.Reason, want)
		}
	}
}
