package zonesync

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestParseTSIGKey(t *testing.T) {
	k, err := ParseTSIGKey(`# made by tsig-keygen
key "Sync-Key" {
	algorithm hmac-sha256;
	secret "3q2+7w/abc+def==";
};
`)
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != "sync-key." || k.Algorithm != dns.HmacSHA256 || k.Secret != "3q2+7w/abc+def==" {
		t.Errorf("key = %+v", k)
	}
	for _, bad := range []string{"", `key "x" { algorithm hmac-md5; secret "AA=="; };`, `key "x" { secret "AA=="; };`} {
		if _, err := ParseTSIGKey(bad); err == nil {
			t.Errorf("ParseTSIGKey(%q) took it", bad)
		}
	}
}

// TestRFC2136Message checks the UPDATE on the wire: the prerequisite is the RRset last seen (value
// dependent), or its absence, then the RRset is replaced; and NXRRSET is a conflict.
func TestRFC2136Message(t *testing.T) {
	const sip = "_sip._tcp.example.com."
	var got []*dns.Msg
	rcode := dns.RcodeSuccess
	mux := dns.NewServeMux()
	mux.HandleFunc("example.com.", func(w dns.ResponseWriter, r *dns.Msg) {
		got = append(got, r)
		m := new(dns.Msg)
		m.SetRcode(r, rcode)
		w.WriteMsg(m)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: l, Handler: mux, MsgAcceptFunc: func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }}
	go srv.ActivateAndServe()
	defer srv.Shutdown()
	time.Sleep(50 * time.Millisecond)

	p := &RFC2136{Server: l.Addr().String(), Zone: "example.com.", Names: []string{sip}}
	ctx := context.Background()
	if err := p.Apply(ctx, []Change{{Before: set(sip, 300, srvA, srvB), After: set(sip, 60, srvA)}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(ctx, []Change{{Before: RRset{Name: sip}, After: set(sip, 60, srvA)}}); err != nil {
		t.Fatal(err)
	}
	rcode = dns.RcodeNXRrset
	err = p.Apply(ctx, []Change{{Before: set(sip, 60, srvA), After: set(sip, 60, srvB)}})
	if ce := (*ConflictError)(nil); err == nil || !strings.Contains(err.Error(), "NXRRSET") {
		t.Errorf("NXRRSET: err = %v, want a %T", err, ce)
	}
	if len(got) != 3 {
		t.Fatalf("%d messages, want 3", len(got))
	}
	m := got[0]
	if m.Opcode != dns.OpcodeUpdate || m.Question[0].Name != "example.com." || m.Question[0].Qtype != dns.TypeSOA {
		t.Errorf("zone section %v, opcode %d", m.Question, m.Opcode)
	}
	if len(m.Answer) != 2 || m.Answer[0].Header().Class != dns.ClassINET || m.Answer[0].Header().Ttl != 0 {
		t.Errorf("prerequisites %v, want the two records last seen, class IN, TTL 0 (RFC 2136 2.4.2)", m.Answer)
	}
	if len(m.Ns) != 2 || m.Ns[0].Header().Class != dns.ClassANY || m.Ns[0].Header().Rrtype != dns.TypeSRV || m.Ns[1].Header().Ttl != 60 {
		t.Errorf("updates %v, want the SRV RRset deleted and the new one added", m.Ns)
	}
	if pre := got[1].Answer; len(pre) != 1 || pre[0].Header().Class != dns.ClassNONE || pre[0].Header().Rrtype != dns.TypeSRV {
		t.Errorf("prerequisite of a new RRset %v, want 'RRset does not exist' (class NONE, RFC 2136 2.4.3)", pre)
	}
}
