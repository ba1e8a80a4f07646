// Package zonekey makes DNSSEC keys for the zones of tests, as dnssec-keygen would: the key, its signer,
// and the K*.key / K*.private files the dnssec plugin reads.
package zonekey

import (
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
)

// Key is a DNSSEC key of a test zone.
type Key struct {
	*dns.DNSKEY
	Signer crypto.Signer
	Base   string // Base+".key" and Base+".private" hold it; the dnssec plugin's "key file" takes Base
}

// New makes an ECDSA P-256 key for zone with flags (256 ZSK, 257 KSK) and writes its files into a
// temporary directory of t.
func New(t testing.TB, zone string, flags uint16) Key {
	t.Helper()
	k := &dns.DNSKEY{
		Hdr:   dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: flags, Protocol: 3, Algorithm: dns.ECDSAP256SHA256,
	}
	priv, err := k.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(t.TempDir(), fmt.Sprintf("K%s+%03d+%05d", zone, k.Algorithm, k.KeyTag()))
	if err := os.WriteFile(base+".key", []byte(k.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".private", []byte(k.PrivateKeyString(priv)), 0o600); err != nil {
		t.Fatal(err)
	}
	return Key{DNSKEY: k, Signer: priv.(crypto.Signer), Base: base}
}
