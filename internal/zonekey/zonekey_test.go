package zonekey

import (
	"os"
	"testing"

	"github.com/miekg/dns"
)

// TestNew: the files read back as the key, and the signer signs what the key verifies.
func TestNew(t *testing.T) {
	k := New(t, "example.test.", 257)
	pub, err := os.ReadFile(k.Base + ".key")
	if err != nil {
		t.Fatal(err)
	}
	rr, err := dns.NewRR(string(pub))
	if err != nil || rr.(*dns.DNSKEY).KeyTag() != k.KeyTag() {
		t.Fatalf("%s.key = %v, %v; want the key", k.Base, rr, err)
	}
	if _, err := os.Stat(k.Base + ".private"); err != nil {
		t.Fatal(err)
	}
	a, _ := dns.NewRR("www.example.test. 60 IN A 192.0.2.1")
	sig := &dns.RRSIG{Hdr: dns.RR_Header{Name: "www.example.test.", Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 60},
		TypeCovered: dns.TypeA, Algorithm: k.Algorithm, Labels: 3, OrigTtl: 60, Expiration: 2000000000,
		Inception: 1000000000, KeyTag: k.KeyTag(), SignerName: "example.test."}
	if err := sig.Sign(k.Signer, []dns.RR{a}); err != nil {
		t.Fatal(err)
	}
	if err := sig.Verify(k.DNSKEY, []dns.RR{a}); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
}
