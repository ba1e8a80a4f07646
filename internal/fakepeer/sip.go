package fakepeer

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Responder answers one SIP request with the messages a server sends back, in order; none is silence.
type Responder func(req []byte) [][]byte

// Answer responds to every request with one response of status ("200 OK"), extra header lines added
// (see Reply). Anything that is not a request gets no answer.
func Answer(status string, extra ...string) Responder {
	return func(req []byte) [][]byte {
		if !isRequest(req) {
			return nil
		}
		return [][]byte{Reply(req, status, nil, extra...)}
	}
}

// SIPStream serves SIP over TCP or TLS: it reads each request on the connection and writes what respond
// returns.
func SIPStream(respond Responder) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			c.SetReadDeadline(time.Now().Add(IdleTimeout))
			req, err := ReadRequest(br)
			if err != nil {
				return
			}
			for _, m := range respond(req) {
				if _, err := c.Write(m); err != nil {
					return
				}
			}
		}
	}
}

// SIPPacket serves SIP over UDP (with ListenUDP): each datagram is a request.
func SIPPacket(respond Responder) func(req []byte, reply func([]byte)) {
	return func(req []byte, reply func([]byte)) {
		for _, m := range respond(req) {
			reply(m)
		}
	}
}

var errTooLarge = errors.New("fakepeer: SIP message too large")

// ReadRequest reads one SIP message from a stream and returns its start line and headers; its body, if
// Content-Length announces one, is read and dropped. Empty lines before the message are keep-alives
// (RFC 5626 section 4.4.1) and skipped.
func ReadRequest(r *bufio.Reader) ([]byte, error) {
	var msg []byte
	length := 0
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		blank := len(bytes.TrimRight(line, "\r\n")) == 0
		if blank && len(msg) == 0 {
			continue
		}
		msg = append(msg, line...)
		if len(msg) > maxMessage {
			return nil, errTooLarge
		}
		if blank {
			break
		}
		if k, v, ok := strings.Cut(string(line), ":"); ok && canonical(k) == "content-length" {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if length > maxMessage {
		return nil, errTooLarge
	}
	if length > 0 {
		if _, err := io.CopyN(io.Discard, r, int64(length)); err != nil {
			return nil, err
		}
	}
	return msg, nil
}

// Reply builds a response to req: status, then the headers a UAS copies (RFC 3261 section 8.2.6.2: every
// Via, From, To with a tag added, Call-ID, CSeq), override replacing any of them ("Call-ID": "other"),
// then extra lines ("Allow: OPTIONS"); Content-Length: 0 unless extra gives one. There is no body.
func Reply(req []byte, status string, override map[string]string, extra ...string) []byte {
	var b strings.Builder
	b.WriteString("SIP/2.0 " + status + "\r\n")
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		vs := values(req, h)
		if o, ok := override[h]; ok {
			vs = []string{o}
		}
		for _, v := range vs {
			if h == "To" && !strings.Contains(v, "tag=") {
				v += ";tag=fakepeer"
			}
			b.WriteString(h + ": " + v + "\r\n")
		}
	}
	length := false
	for _, e := range extra {
		b.WriteString(e + "\r\n")
		k, _, _ := strings.Cut(e, ":")
		length = length || canonical(k) == "content-length"
	}
	if !length {
		b.WriteString("Content-Length: 0\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// Header returns the first value of a header of a SIP message, by its full or compact name; "" if none.
func Header(msg []byte, name string) string {
	if vs := values(msg, name); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// values returns every value of a header, one per header line, in order.
func values(msg []byte, name string) []string {
	name = canonical(name)
	var vs []string
	for _, l := range strings.Split(string(msg), "\n")[1:] {
		l = strings.TrimRight(l, "\r")
		if l == "" {
			break // end of headers
		}
		if k, v, ok := strings.Cut(l, ":"); ok && canonical(k) == name {
			vs = append(vs, strings.TrimSpace(v))
		}
	}
	return vs
}

// compact maps the compact header forms (RFC 3261 section 7.3.3) a response may use to the full names.
var compact = map[string]string{
	"v": "via", "f": "from", "t": "to", "i": "call-id", "l": "content-length", "m": "contact", "c": "content-type",
}

func canonical(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if full, ok := compact[name]; ok {
		return full
	}
	return name
}

// isRequest reports whether msg starts with a request line ("OPTIONS sip:x SIP/2.0").
func isRequest(msg []byte) bool {
	line, _, _ := bytes.Cut(msg, []byte("\n"))
	return bytes.HasSuffix(bytes.TrimRight(line, "\r"), []byte(" SIP/2.0"))
}
