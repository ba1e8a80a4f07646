// Command keygen writes a DNSSEC key pair for bench/run's online-signing variants, in the two files the
// dnssec plugin's `key file` reads (BIND's K<zone>+<alg>+<tag>.key and .private), so the benchmark needs
// no bind9 tools. It makes an ECDSA P-256 key (algorithm 13, what a zone signed today uses, and the
// cheapest common algorithm to sign with) with flags 257, a key that signs everything itself, and prints
// the base path of its files.
//
//	keygen -zone voip.test. -dir bench/out/work
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/miekg/dns"
)

func main() {
	zone := flag.String("zone", "", "zone the key signs")
	dir := flag.String("dir", ".", "directory for the key files")
	flag.Parse()
	if *zone == "" {
		log.Fatal("keygen: -zone is required")
	}
	k := &dns.DNSKEY{
		Hdr:   dns.RR_Header{Name: dns.Fqdn(*zone), Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256,
	}
	priv, err := k.Generate(256)
	if err != nil {
		log.Fatalf("keygen: %v", err)
	}
	base := filepath.Join(*dir, fmt.Sprintf("K%s+%03d+%05d", k.Hdr.Name, k.Algorithm, k.KeyTag()))
	if err := os.WriteFile(base+".key", []byte(k.String()+"\n"), 0o644); err != nil {
		log.Fatalf("keygen: %v", err)
	}
	if err := os.WriteFile(base+".private", []byte(k.PrivateKeyString(priv)), 0o600); err != nil {
		log.Fatalf("keygen: %v", err)
	}
	fmt.Println(base)
}
