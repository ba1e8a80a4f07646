package test

import (
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestCorefileExample runs the README's first command, corefile.example as it is, and checks what the
// README promises the newcomer's dig shows: only the live sip1 targets, the down, CNAME and address-less
// ones gone.
func TestCorefileExample(t *testing.T) {
	// The example names its zone file relative to the repository's root, where the README runs it.
	t.Chdir("..")
	corefile, err := os.ReadFile("corefile.example")
	if err != nil {
		t.Fatal(err)
	}
	CoreDNS(t, string(corefile))
	var m *dns.Msg
	if !Eventually(10*time.Second, func() bool {
		m = Exchange(t, "udp", "127.0.0.1:1053", "_sip._tcp.example.com.", dns.TypeSRV)
		return slices.Equal(SRVTargets(m), []string{"sip1.example.com.", "sip1.example.com."})
	}) {
		t.Fatalf("example answer %v, want the two sip1 records only", m.Answer)
	}
	if len(m.Extra) != 1 || m.Extra[0].Header().Name != "sip1.example.com." {
		t.Errorf("additional section %v, want sip1's address only", m.Extra)
	}
	// It listens on loopback only (bind 127.0.0.1), not on every interface: another address of the
	// machine finds nothing on its port.
	if c, err := net.DialTimeout("tcp", "127.0.0.2:1053", time.Second); err == nil {
		c.Close()
		t.Error("corefile.example listens beyond 127.0.0.1: 127.0.0.2:1053 accepts")
	}
}
