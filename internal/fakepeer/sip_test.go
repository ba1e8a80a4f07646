package fakepeer

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

const options = "OPTIONS sip:voip.test SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKone;rport\r\n" +
	"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKtwo\r\n" +
	"Max-Forwards: 70\r\nTo: <sip:voip.test>\r\nFrom: <sip:srvhealth@voip.test>;tag=abc\r\n" +
	"Call-ID: 123@srvhealth\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"

func checkReply(t *testing.T, res []byte, status string) {
	t.Helper()
	want := "SIP/2.0 " + status + "\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKone;rport\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKtwo\r\n" +
		"From: <sip:srvhealth@voip.test>;tag=abc\r\nTo: <sip:voip.test>;tag=fakepeer\r\n" +
		"Call-ID: 123@srvhealth\r\nCSeq: 1 OPTIONS\r\nAllow: OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if string(res) != want {
		t.Errorf("reply:\n%s\nwant:\n%s", res, want)
	}
}

func TestSIPOverUDP(t *testing.T) {
	ap := UDP(t, SIPPacket(Answer("404 Not Found", "Allow: OPTIONS")))
	c, err := net.Dial("udp", ap.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 2048)
	// A response is not a request: no answer; then the request is answered.
	for _, req := range []string{"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n", options} {
		c.Write([]byte(req))
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := c.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	checkReply(t, b[:n], "404 Not Found")
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(b); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a second datagram: %q, %v", b[:n], err)
	}
}

// Over a stream, keep-alives and a body around requests do not derail the fake, and each request of a
// connection gets its answer.
func TestSIPOverStreams(t *testing.T) {
	serve := SIPStream(Answer("200 OK", "Allow: OPTIONS"))
	withBody := strings.Replace(options, "Content-Length: 0\r\n\r\n", "l: 5\r\n\r\nv=0\r\n", 1)
	for name, dial := range map[string]func() (net.Conn, error){
		"tcp": func() (net.Conn, error) { return net.Dial("tcp", TCP(t, serve).String()) },
		"tls": func() (net.Conn, error) {
			return tls.Dial("tcp", TLS(t, nil, serve).String(), &tls.Config{InsecureSkipVerify: true})
		},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte("\r\n\r\n" + withBody + "\r\n\r\n" + options))
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			br := bufio.NewReader(c)
			for range 2 {
				res, err := ReadRequest(br) // reads any SIP message
				if err != nil {
					t.Fatal(err)
				}
				checkReply(t, res, "200 OK")
			}
		})
	}
}

func TestReadRequest(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("\r\n\n" + strings.Replace(options, "Content-Length: 0", "Content-Length: 3", 1) + "abc" + options))
	for range 2 {
		req, err := ReadRequest(br)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(req, []byte("OPTIONS ")) || !bytes.HasSuffix(req, []byte("\r\n\r\n")) {
			t.Errorf("read %q", req)
		}
	}
	for name, in := range map[string]string{
		"headers too large": "OPTIONS sip:x SIP/2.0\r\nX: " + strings.Repeat("x", maxMessage) + "\r\n\r\n",
		"body too large":    "OPTIONS sip:x SIP/2.0\r\nContent-Length: 100000\r\n\r\n",
		"cut short":         "OPTIONS sip:x SIP/2.0\r\nVia: x",
		"body cut short":    "OPTIONS sip:x SIP/2.0\r\nContent-Length: 10\r\n\r\nabc",
	} {
		if req, err := ReadRequest(bufio.NewReader(strings.NewReader(in))); err == nil {
			t.Errorf("%s: read %q", name, req)
		}
	}
}

func TestReply(t *testing.T) {
	res := string(Reply([]byte(options), "503 Service Unavailable", map[string]string{"Call-ID": "other", "To": "<sip:x>;tag=t"},
		"Content-Length: 0", "Retry-After: 5"))
	for _, want := range []string{"SIP/2.0 503 Service Unavailable\r\n", "\r\nCall-ID: other\r\n", "\r\nTo: <sip:x>;tag=t\r\n",
		"\r\nRetry-After: 5\r\n\r\n"} {
		if !strings.Contains(res, want) {
			t.Errorf("reply lacks %q:\n%s", want, res)
		}
	}
	if n := strings.Count(res, "Content-Length"); n != 1 {
		t.Errorf("%d Content-Length headers:\n%s", n, res)
	}
}

func TestHeader(t *testing.T) {
	msg := []byte("SIP/2.0 200 OK\nv: a;branch=b\r\nCALL-ID: c\r\nVia: second\r\n\r\nVia: in the body\r\n")
	for name, want := range map[string]string{"Via": "a;branch=b", "v": "a;branch=b", "call-id": "c", "i": "c", "CSeq": ""} {
		if got := Header(msg, name); got != want {
			t.Errorf("Header(%q) = %q, want %q", name, got, want)
		}
	}
	if got := values(msg, "via"); len(got) != 2 {
		t.Errorf("values(via) = %q, want the two header lines", got)
	}
}
