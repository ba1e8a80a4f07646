package testpeer

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// ProsodyConfig describes a Prosody serving one domain: c2s with STARTTLS, s2s, and XEP-0368 direct
// TLS c2s and s2s.
type ProsodyConfig struct {
	Addr          string // loopback address to listen on; default 127.0.30.2
	Domain        string // the VirtualHost; default voip.test
	C2SPort       int    // default: a free port
	S2SPort       int    // default: a free port
	DirectTLSPort int    // c2s_direct_tls_ports; default: a free port
	S2SDirectTLS  int    // s2s_direct_tls_ports; default: a free port
}

// ProsodyPeer is a running Prosody.
type ProsodyPeer struct {
	*Peer
	C2S       netip.AddrPort
	S2S       netip.AddrPort
	DirectTLS netip.AddrPort
	// S2SDirectTLS is XEP-0368 direct TLS for servers (_xmpps-server._tcp).
	S2SDirectTLS netip.AddrPort
	Domain       string
	Cert         *Cert // the VirtualHost's certificate; Cert.Pool verifies it
}

// Prosody starts a Prosody for the test and stops it when the test ends. It skips the test when Prosody
// is not installed.
func Prosody(t testing.TB, cfg ProsodyConfig) *ProsodyPeer {
	t.Helper()
	bin := binary(t, "prosody", "apt-get install prosody")
	if cfg.Addr == "" {
		cfg.Addr = "127.0.30.2"
	}
	if cfg.Domain == "" {
		cfg.Domain = "voip.test"
	}
	for _, p := range []*int{&cfg.C2SPort, &cfg.S2SPort, &cfg.DirectTLSPort, &cfg.S2SDirectTLS} {
		if *p == 0 {
			*p = FreePort(t, cfg.Addr, false)
		}
	}
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	data := filepath.Join(dir, "data")
	for _, d := range []string{certs, data} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	addr := netip.MustParseAddr(cfg.Addr)
	p := &ProsodyPeer{
		C2S:          netip.AddrPortFrom(addr, uint16(cfg.C2SPort)),
		S2S:          netip.AddrPortFrom(addr, uint16(cfg.S2SPort)),
		DirectTLS:    netip.AddrPortFrom(addr, uint16(cfg.DirectTLSPort)),
		S2SDirectTLS: netip.AddrPortFrom(addr, uint16(cfg.S2SDirectTLS)),
		Domain:       cfg.Domain,
		Cert:         NewCert(t, CertSpec{Names: []string{cfg.Domain}, Dir: certs}),
	}
	// run_as_root: Prosody refuses to run as root otherwise, and CI containers are root. No daemonize
	// option: -F keeps it in the foreground (the option is deprecated in 0.12). dialback: without it an
	// s2s stream over direct TLS has no feature left to offer, and Prosody closes it with a stream error.
	conf := fmt.Sprintf(`pidfile = %s
data_path = %s
run_as_root = true
log = { { levels = { min = "info" }, to = "console" } }
interfaces = { %s }
c2s_ports = { %d }
s2s_ports = { %d }
c2s_direct_tls_ports = { %d }
s2s_direct_tls_ports = { %d }
modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping" }
certificates = %s
VirtualHost %s
  ssl = { certificate = %s; key = %s }
`, lua(filepath.Join(dir, "prosody.pid")), lua(data), lua(cfg.Addr), cfg.C2SPort, cfg.S2SPort, cfg.DirectTLSPort, cfg.S2SDirectTLS,
		lua(certs), lua(cfg.Domain), lua(p.Cert.CertFile), lua(p.Cert.KeyFile))
	cfgPath := filepath.Join(dir, "prosody.cfg.lua")
	writeFile(t, cfgPath, []byte(conf), 0o644)

	argv := []string{bin, "-F", "--config", cfgPath}
	p.Peer = newPeer(t, "prosody", dir, argv, []string{p.C2S.String(), p.S2S.String(), p.DirectTLS.String(), p.S2SDirectTLS.String()})
	p.Start()
	return p
}
