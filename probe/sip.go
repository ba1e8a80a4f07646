package probe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultSIPAccept says whether a final SIP status code proves a live server. Any final response does,
// because it took a working SIP stack to send it: 404 (no such user), 403, 405 (OPTIONS not allowed),
// 481 or 501 are all answers from a server that routes requests. The exceptions are the codes by which a
// server or a proxy in front of it says it cannot serve now:
//
//   - 408 Request Timeout: a proxy got no answer further on (RFC 3261 section 21.4.9).
//   - 480 Temporarily Unavailable: the callee, here the server itself, is not available (21.4.18).
//   - 500 Server Internal Error: the server failed to process the request (21.5.1).
//   - 503 Service Unavailable: overloaded or in maintenance; RFC 3263 section 4.3 tells clients to try
//     the next SRV target on it, which is exactly what removing this target from answers does (21.5.4).
//   - 504 Server Time-out: a server it needed did not answer in time (21.5.5).
func DefaultSIPAccept(code int) bool { return acceptExcept(code, DefaultSIPFailCodes) }

// DefaultSIPFailCodes are the final codes DefaultSIPAccept takes for a server that cannot serve now.
var DefaultSIPFailCodes = []int{408, 480, 500, 503, 504}

// SIPAcceptExcept returns the SIPAccept that takes every final code but those in fail.
func SIPAcceptExcept(fail []int) func(code int) bool {
	fail = slices.Clone(fail)
	return func(code int) bool { return acceptExcept(code, fail) }
}

func acceptExcept(code int, fail []int) bool {
	return code >= 200 && code < 700 && !slices.Contains(fail, code)
}

// The RFC 3261 timers for a non-INVITE client transaction over UDP (section 17.1.2.2): the request is
// retransmitted when timer E fires, which starts at T1 and doubles up to T2 (and stays at T2 once a
// provisional response came in). There is no timer F here: the caller's deadline ends the transaction.
const (
	sipT1 = 500 * time.Millisecond
	sipT2 = 4 * time.Second
)

// sipProber sends an OPTIONS request (RFC 3261 section 11) and judges the final response.
type sipProber struct {
	transport Transport
	opts      Options
	accept    func(int) bool
	t1, t2    time.Duration
}

func newSIPProber(tr Transport, opts Options) *sipProber {
	acc := opts.SIPAccept
	if acc == nil {
		acc = DefaultSIPAccept
	}
	return &sipProber{transport: tr, opts: opts, accept: acc, t1: sipT1, t2: sipT2}
}

func (p *sipProber) probe(ctx context.Context, t Target) Result {
	d := newDetails(p.opts)
	c, seen, err := connect(ctx, t, p.transport, p.opts, nil)
	if err != nil {
		return seen.report(failed(err), d)
	}
	defer c.Close()
	stop := bindDeadline(ctx, c)
	defer stop()

	req := newSIPRequest(p.transport, t, c.LocalAddr())
	var res sipResponse
	if p.transport == UDP {
		res, err = p.exchangeDatagram(ctx, c, req)
	} else {
		res, err = exchangeStream(c, req)
	}
	var r Result
	switch {
	case err != nil:
		r = failed(err)
	case p.accept(res.Code):
		r = Result{Up: true, Reason: res.String()}
	default:
		r = down(res.String())
	}
	if d != nil {
		d.SIPServer = res.Server
	}
	return seen.report(r, d)
}

// sipRequest is one OPTIONS request and what identifies its responses: RFC 3261 section 17.1.3 matches
// a response to its client transaction by the top Via branch and the CSeq method; we check the Call-ID
// and CSeq number too, so that a stray response on a shared connection cannot pass for ours.
type sipRequest struct {
	wire   []byte
	callID string
	branch string
	cseq   uint32
}

func newSIPRequest(tr Transport, t Target, local net.Addr) sipRequest {
	// RFC 3261 section 8.1.1.7: the branch starts with the magic cookie so the server treats it as
	// unique; rport (RFC 3581) asks the server to answer to the port we sent from, which is the only one
	// that reaches us through NAT and the only one our connected UDP socket reads.
	r := sipRequest{
		callID: rand.Text() + "@srvhealth",
		branch: "z9hG4bK" + rand.Text(),
		cseq:   mrand.Uint32N(1<<31-1) + 1, // section 8.1.1.5: less than 2**31
	}
	host := t.Domain
	if host == "" {
		host = t.Addr.String()
	}
	sentBy := local.String()
	if ap, err := netip.ParseAddrPort(sentBy); err == nil {
		sentBy = netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port()).String() // a zone is not SIP
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "OPTIONS sip:%s SIP/2.0\r\n", host)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=%s;rport\r\n", strings.ToUpper(string(tr)), sentBy, r.branch)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:srvhealth@%s>;tag=%s\r\n", host, rand.Text()[:10])
	fmt.Fprintf(&b, "To: <sip:%s>\r\n", host)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", r.callID)
	fmt.Fprintf(&b, "CSeq: %d OPTIONS\r\n", r.cseq)
	b.WriteString("User-Agent: srvhealth\r\n")
	b.WriteString("Accept: application/sdp\r\n") // section 11.1: SHOULD, and the server's default
	b.WriteString("Content-Length: 0\r\n\r\n")
	r.wire = b.Bytes()
	return r
}

// matches reports whether res answers r. CSeq methods are case-sensitive (section 7.1), and so are
// Call-IDs, compared byte by byte (section 20.8). The branch is not: section 7.3.1 makes parameter values
// case-insensitive unless a header's definition says otherwise and tokens always, the branch is a token
// (section 25.1, via-branch), and neither section 17.1.3 (matching a response to its client
// transaction) nor section 20.42 (Via) says otherwise. So a proxy or stack that changes its case still
// answers us; the Call-ID and CSeq keep a stray response from passing for ours.
func (r sipRequest) matches(res sipResponse) bool {
	return res.CallID == r.callID && res.CSeq == r.cseq && res.CSeqMethod == "OPTIONS" && strings.EqualFold(res.Branch, r.branch)
}

// errNotOurs marks a well-formed response to some other request.
var errNotOurs = errors.New("not our transaction")

// maxSkipped bounds the messages a probe reads past while it waits for the final response to its
// request: responses to other requests, provisional ones, and over UDP datagrams that are not SIP. A
// live server sends a few (a 100 Trying per retransmission); a peer that sends more is flooding us.
const maxSkipped = 64

var errTooManyStray = &protoError{"too many stray replies"}

// judge returns the final response to r in msg, errNotOurs for a foreign or provisional one, and
// errMalformed for anything that is not a SIP response.
func (r sipRequest) judge(msg []byte) (sipResponse, error) {
	res, err := parseSIPResponse(msg)
	if err != nil {
		return res, errMalformed
	}
	if !r.matches(res) || res.Code < 200 {
		return res, errNotOurs
	}
	return res, nil
}

// exchangeDatagram sends req over UDP and retransmits it on timer E until a final response to it
// arrives or ctx ends. The connection's deadline is already bound to ctx; the read deadline here only
// ever moves it earlier, to the next retransmission.
//
// Each datagram stands alone, so one that is not a SIP response (a CRLF keep-alive, a STUN packet, RFC
// 5626 section 4.4; something stray or late on our port) says nothing of our transaction: it is skipped,
// as a response to another request is, up to maxSkipped in all. When no final response came by the
// deadline but such a datagram did, "malformed reply" says more than "timeout".
func (p *sipProber) exchangeDatagram(ctx context.Context, c net.Conn, req sipRequest) (sipResponse, error) {
	if _, err := c.Write(req.wire); err != nil {
		return sipResponse{}, err
	}
	interval := p.t1
	next := time.Now().Add(interval)
	buf := make([]byte, maxReply)
	skipped, malformed := 0, false
	end := func(err error) (sipResponse, error) {
		if malformed && reason(err) == "timeout" {
			err = errMalformed
		}
		return sipResponse{}, err
	}
	for {
		rd, last := next, false
		if dl, ok := ctx.Deadline(); ok && !dl.After(rd) {
			rd, last = dl, true // no retransmission left before the deadline
		}
		c.SetReadDeadline(rd)
		// Checked after moving the deadline: if ctx ended before, we stop here; if after, the AfterFunc
		// from bindDeadline has moved the deadline into the past and the read returns at once.
		if err := ctx.Err(); err != nil {
			return end(err)
		}
		n, err := c.Read(buf)
		if err != nil {
			// The deadline may pass a moment before ctx says so: last, not ctx.Err, tells the two
			// apart.
			if ne, ok := err.(net.Error); ok && ne.Timeout() && !last && ctx.Err() == nil {
				if _, err := c.Write(req.wire); err != nil {
					return sipResponse{}, err
				}
				interval = min(2*interval, p.t2)
				next = time.Now().Add(interval)
				continue
			}
			if err := ctx.Err(); err != nil {
				return end(err)
			}
			return end(err) // a timeout, or an ICMP port unreachable read as connection refused
		}
		res, err := req.judge(buf[:n])
		switch {
		case err == nil:
			return res, nil
		case errors.Is(err, errNotOurs):
			if res.Code >= 100 && res.Code < 200 && req.matches(res) {
				// Proceeding: the server has the request; retransmit at T2 only (section 17.1.2.2).
				interval = p.t2
				next = time.Now().Add(interval)
			}
		default:
			malformed = malformed || len(bytes.Trim(buf[:n], "\r\n ")) > 0 // CRLFs are a keep-alive
		}
		if skipped++; skipped > maxSkipped {
			return sipResponse{}, errTooManyStray
		}
	}
}

// exchangeStream sends req over TCP or TLS and reads messages until the final response to it. A
// reliable transport is never retransmitted over (section 17.1.2.1: timer E only for unreliable ones).
// Responses to other requests are skipped, up to maxSkipped; bytes that are not SIP are not, since
// nothing then tells where the next message starts.
func exchangeStream(c net.Conn, req sipRequest) (sipResponse, error) {
	if _, err := c.Write(req.wire); err != nil {
		return sipResponse{}, err
	}
	br := bufio.NewReader(c)
	for skipped := 0; ; skipped++ {
		if skipped > maxSkipped {
			return sipResponse{}, errTooManyStray
		}
		msg, err := readSIPMessage(br)
		if err != nil {
			return sipResponse{}, err
		}
		res, err := req.judge(msg)
		if errors.Is(err, errNotOurs) {
			continue
		}
		return res, err
	}
}

// readSIPMessage reads one message from a stream: the start line and headers up to the empty line, then
// as many body bytes as Content-Length says (RFC 3261 section 18.3, where Content-Length is mandatory
// for streams). CRLFs before the start line are keep-alives and skipped (section 7.5, RFC 5626 section
// 3.5.1). A message longer than maxReply fails with errTooLarge before it is read in full.
func readSIPMessage(r *bufio.Reader) ([]byte, error) {
	skipped := 0
	for {
		b, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		if b != '\r' && b != '\n' {
			r.UnreadByte()
			break
		}
		if skipped++; skipped > maxReply {
			return nil, errTooLarge
		}
	}
	var msg []byte
	lineStart := 0
	for {
		chunk, err := r.ReadSlice('\n')
		msg = append(msg, chunk...)
		if len(msg) > maxReply {
			return nil, errTooLarge
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(msg) > 0 {
				return nil, errMalformed // closed in the middle of a message
			}
			return nil, err
		}
		line := msg[lineStart:]
		lineStart = len(msg)
		if string(line) == "\r\n" || string(line) == "\n" {
			break
		}
	}
	res, err := parseSIPResponse(msg)
	if err != nil {
		return nil, errMalformed
	}
	if res.ContentLength > 0 {
		if res.ContentLength > maxReply-len(msg) {
			return nil, errTooLarge
		}
		body := make([]byte, res.ContentLength)
		if _, err := io.ReadFull(r, body); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, errMalformed
			}
			return nil, err
		}
		msg = append(msg, body...)
	}
	return msg, nil
}

// sipResponse is what a probe needs from a response.
type sipResponse struct {
	Code          int
	Phrase        string
	CallID        string
	CSeq          uint32
	CSeqMethod    string
	Branch        string // of the top Via
	ContentLength int    // -1 when absent
	Server        string // the Server header, or User-Agent when there is none (RFC 3261 section 20.35, 20.41)
}

// String is the response as a probe reason: "sip 503 Service Unavailable".
func (r sipResponse) String() string {
	if r.Phrase == "" {
		return "sip " + strconv.Itoa(r.Code)
	}
	return "sip " + strconv.Itoa(r.Code) + " " + r.Phrase
}

// parseSIPResponse parses the start line and headers of a SIP response (RFC 3261 section 7.2); the
// body, after the first empty line, is ignored. It is lenient where real stacks differ (bare LF line
// ends, header folding, compact header names, any case in header names) and strict about what the
// probe relies on: a status line, and a Call-ID, a CSeq and a Via.
func parseSIPResponse(b []byte) (sipResponse, error) {
	res := sipResponse{ContentLength: -1}
	head := b
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		head = b[:i]
	} else if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		head = b[:i]
	}
	lines := strings.Split(string(head), "\n")
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}

	// Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (section 7.2, 25.1).
	status, ok := strings.CutPrefix(lines[0], "SIP/2.0 ")
	if !ok || len(status) < 3 {
		return res, errors.New("sip: not a response status line")
	}
	code, err := strconv.Atoi(status[:3])
	if err != nil || code < 100 || code > 699 || (len(status) > 3 && status[3] != ' ') {
		return res, errors.New("sip: bad status code")
	}
	res.Code = code
	if len(status) > 4 {
		res.Phrase = strings.TrimSpace(status[4:])
	}

	// Unfold: a line starting with whitespace continues the previous header (section 7.3.1).
	// Folded parts are collected and joined once, so that a message of many short continuation lines
	// costs linear time, not quadratic.
	var parts [][]string
	for _, l := range lines[1:] {
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(parts) > 0 {
			parts[len(parts)-1] = append(parts[len(parts)-1], strings.TrimSpace(l))
			continue
		}
		parts = append(parts, []string{l})
	}
	headers := make([]string, len(parts))
	for i, p := range parts {
		headers[i] = strings.Join(p, " ")
	}

	var haveCSeq, haveVia bool
	var userAgent string
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return res, errors.New("sip: header without colon")
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "call-id", "i": // compact forms, section 7.3.3
			if res.CallID == "" {
				res.CallID = value
			}
		case "cseq":
			if haveCSeq {
				continue
			}
			num, method, ok := strings.Cut(value, " ")
			n, err := strconv.ParseUint(num, 10, 32)
			if !ok || err != nil {
				return res, errors.New("sip: bad CSeq")
			}
			res.CSeq, res.CSeqMethod, haveCSeq = uint32(n), strings.TrimSpace(method), true
		case "via", "v":
			if haveVia {
				continue // only the top Via matters, and it is the first value of the first header
			}
			haveVia = true
			top, _, _ := strings.Cut(value, ",")
			res.Branch = viaParam(top, "branch")
		case "server":
			if res.Server == "" {
				res.Server = value
			}
		case "user-agent":
			if userAgent == "" {
				userAgent = value
			}
		case "content-length", "l":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return res, errors.New("sip: bad Content-Length")
			}
			res.ContentLength = n
		}
	}
	if res.Server == "" {
		res.Server = userAgent
	}
	if res.CallID == "" || !haveCSeq || !haveVia {
		return res, errors.New("sip: missing Call-ID, CSeq or Via")
	}
	return res, nil
}

// viaParam returns the value of a Via parameter; parameter names are case-insensitive (section 7.3.1).
func viaParam(via, name string) string {
	_, params, _ := strings.Cut(via, ";")
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
