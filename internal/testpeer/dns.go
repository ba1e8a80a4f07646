package testpeer

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// PrimaryConfig describes an authoritative primary server of one dynamic zone: BIND 9 or Knot DNS, on
// loopback, taking RFC 2136 UPDATEs signed with one TSIG key and zone transfers from loopback.
type PrimaryConfig struct {
	Zone     string // fully qualified, e.g. "example.com."
	ZoneText string // the zone file
	Port     int    // default: a free port
}

// PrimaryPeer is a running primary.
type PrimaryPeer struct {
	*Peer
	Addr    netip.AddrPort // where it answers, UDP and TCP
	KeyFile string         // the TSIG key as tsig-keygen writes it
	KeyName string         // fully qualified
	Secret  string         // base64
	Alg     string         // "hmac-sha256."
}

// tsigKey makes a key with BIND's tsig-keygen, the tool an operator uses, and writes it to dir.
func tsigKey(t testing.TB, dir string) (file, name, secret string) {
	t.Helper()
	bin := binary(t, "tsig-keygen", "apt-get install bind9-utils (or bind9)")
	out, err := exec.Command(bin, "-a", "hmac-sha256", "sync-key").Output()
	if err != nil {
		t.Fatalf("testpeer: tsig-keygen: %v", err)
	}
	m := regexp.MustCompile(`secret "([^"]+)"`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("testpeer: no secret in tsig-keygen's output:\n%s", out)
	}
	file = filepath.Join(dir, "sync.key")
	writeFile(t, file, out, 0o600)
	return file, "sync-key.", string(m[1])
}

func newPrimary(t testing.TB, cfg *PrimaryConfig, dir string) *PrimaryPeer {
	if cfg.Port == 0 {
		cfg.Port = FreePort(t, "127.0.0.1", true)
	}
	cfg.Zone = dns.Fqdn(strings.ToLower(cfg.Zone))
	writeFile(t, filepath.Join(dir, "zone.db"), []byte(cfg.ZoneText), 0o644)
	file, name, secret := tsigKey(t, dir)
	return &PrimaryPeer{Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(cfg.Port)),
		KeyFile: file, KeyName: name, Secret: secret, Alg: dns.HmacSHA256}
}

// servesZone returns the serving check of a primary: an authoritative SOA answer for zone.
func servesZone(addr, zone string) func(time.Time) error {
	return func(time.Time) error {
		m := new(dns.Msg)
		m.SetQuestion(zone, dns.TypeSOA)
		r, _, err := (&dns.Client{Net: "tcp", Timeout: time.Second}).Exchange(m, addr)
		switch {
		case err != nil:
			return err
		case r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) == 0:
			return errors.New("no authoritative SOA yet: " + dns.RcodeToString[r.Rcode])
		}
		return nil
	}
}

// Bind starts BIND 9 (named -g) as the primary of cfg.Zone and stops it when the test ends. It skips the
// test when BIND is not installed.
func Bind(t testing.TB, cfg PrimaryConfig) *PrimaryPeer {
	t.Helper()
	bin := binary(t, "named", "apt-get install bind9")
	dir := t.TempDir()
	p := newPrimary(t, &cfg, dir)
	// No rndc (controls {}), no recursion, transfers for loopback (the tests compare zones by AXFR),
	// updates for the key only. The journal and the managed keys live in the test's directory.
	conf := fmt.Sprintf(`options {
	directory %q;
	pid-file %q;
	session-keyfile %q;
	managed-keys-directory %q;
	listen-on port %d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
	allow-transfer { 127.0.0.1; };
};
controls { };
include %q;
zone %q {
	type primary;
	file %q;
	allow-update { key "sync-key"; };
};
`, dir, filepath.Join(dir, "named.pid"), filepath.Join(dir, "session.key"), dir, cfg.Port, p.KeyFile,
		strings.TrimSuffix(cfg.Zone, "."), filepath.Join(dir, "zone.db"))
	path := filepath.Join(dir, "named.conf")
	writeFile(t, path, []byte(conf), 0o644)
	p.Peer = newPeer(t, "named", dir, []string{bin, "-g", "-c", path}, []string{p.Addr.String()})
	p.serving = servesZone(p.Addr.String(), cfg.Zone)
	p.Start()
	return p
}

// Knot starts Knot DNS (knotd) as the primary of cfg.Zone and stops it when the test ends. It skips the
// test when Knot is not installed.
func Knot(t testing.TB, cfg PrimaryConfig) *PrimaryPeer {
	t.Helper()
	bin := binary(t, "knotd", "apt-get install knot")
	dir := t.TempDir()
	p := newPrimary(t, &cfg, dir)
	// The zone file is never written back (zonefile-sync -1): the changes live in the journal, in dir.
	conf := fmt.Sprintf(`server:
    rundir: %q
    listen: 127.0.0.1@%d
log:
  - target: stderr
    any: info
database:
    storage: %q
key:
  - id: sync-key
    algorithm: hmac-sha256
    secret: %s
acl:
  - id: update
    key: sync-key
    action: update
  - id: transfer
    address: 127.0.0.1
    action: transfer
zone:
  - domain: %s
    storage: %q
    file: zone.db
    zonefile-sync: -1
    journal-content: changes
    acl: [update, transfer]
`, dir, cfg.Port, dir, p.Secret, cfg.Zone, dir)
	path := filepath.Join(dir, "knot.conf")
	writeFile(t, path, []byte(conf), 0o644)
	p.Peer = newPeer(t, "knotd", dir, []string{bin, "-c", path}, []string{p.Addr.String()})
	p.serving = servesZone(p.Addr.String(), cfg.Zone)
	p.Start()
	return p
}
