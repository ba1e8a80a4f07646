package testpeer

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

// UnboundConfig describes an Unbound that validates one zone, which it asks of one authoritative server:
// the validating resolver between a client and srvhealth of the tests for signed zones.
type UnboundConfig struct {
	Addr        string   // loopback address to listen on; default 127.0.0.1
	Port        int      // default: a free port
	Zone        string   // the zone, fully qualified
	Upstream    string   // address:port of the authoritative server for Zone (CoreDNS)
	TrustAnchor []string // DNSKEY or DS records of Zone, in zone-file form
}

// UnboundPeer is a running Unbound.
type UnboundPeer struct {
	*Peer
	Addr netip.AddrPort // where it answers, UDP and TCP
}

// Unbound starts an Unbound for the test and stops it when the test ends. It skips the test when Unbound
// is not installed.
func Unbound(t testing.TB, cfg UnboundConfig) *UnboundPeer {
	t.Helper()
	bin := binary(t, "unbound", "apt-get install unbound")
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = FreePort(t, cfg.Addr, true)
	}
	up, err := netip.ParseAddrPort(cfg.Upstream)
	if err != nil {
		t.Fatalf("testpeer: unbound upstream: %v", err)
	}
	if up.Addr().IsUnspecified() { // a server listening on every address: ask it on loopback
		up = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), up.Port())
	}
	dir := t.TempDir()
	var anchors strings.Builder
	for _, a := range cfg.TrustAnchor {
		fmt.Fprintf(&anchors, "    trust-anchor: %q\n", strings.Join(strings.Fields(a), " ")) // one line, no tabs
	}
	// No chroot, no user switch, no syslog, no remote control: a foreground process of the test. Local
	// addresses may be asked (the authoritative server is on loopback). No root hints are needed: the one
	// zone is a stub, and Unbound only validates what it gets from it against the trust anchor. Unbound
	// answers the RFC 6761 name test. itself unless told not to.
	conf := fmt.Sprintf(`server:
    interface: %s@%d
    port: %d
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    username: ""
    chroot: ""
    directory: %q
    pidfile: %q
    use-syslog: no
    logfile: ""
    verbosity: 1
    val-log-level: 2
    module-config: "validator iterator"
    qname-minimisation: no
    prefetch: no
    minimal-responses: no
    local-zone: "test." nodefault
%sstub-zone:
    name: %q
    stub-addr: %s@%d
remote-control:
    control-enable: no
`, cfg.Addr, cfg.Port, cfg.Port, dir, filepath.Join(dir, "unbound.pid"), anchors.String(), cfg.Zone, up.Addr(), up.Port())
	path := filepath.Join(dir, "unbound.conf")
	writeFile(t, path, []byte(conf), 0o644)

	addr := netip.AddrPortFrom(netip.MustParseAddr(cfg.Addr), uint16(cfg.Port))
	p := &UnboundPeer{Addr: addr}
	p.Peer = newPeer(t, "unbound", dir, []string{bin, "-d", "-c", path}, []string{addr.String()})
	p.Start()
	return p
}
