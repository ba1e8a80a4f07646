package testpeer

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BaresipConfig describes a baresip user agent with one account, listening for SIP over UDP and TCP on
// one port and over TLS on the next, with no audio, video or user interface.
type BaresipConfig struct {
	Addr   string // loopback address to listen on; default 127.0.30.4
	Port   int    // UDP and TCP; TLS is always on Port+1 (baresip's rule); default: a free pair
	Domain string // name in the TLS certificate; default voip.test
	User   string // the account's user part; default alice
}

// BaresipPeer is a running baresip.
type BaresipPeer struct {
	*Peer
	UDPTCP netip.AddrPort // SIP over UDP and TCP
	TLS    netip.AddrPort // SIP over TLS
	Domain string
	// AOR is the account's address, sip:USER@ADDR. baresip answers OPTIONS for it with 200 OK, and for
	// any other request URI (a bare domain, as the probe sends) with 404 Not Found.
	AOR  string
	Cert *Cert // the TLS certificate; Cert.Pool verifies it
}

// Baresip starts a baresip for the test and stops it when the test ends. It skips the test when baresip
// is not installed.
func Baresip(t testing.TB, cfg BaresipConfig) *BaresipPeer {
	t.Helper()
	bin := binary(t, "baresip", "apt-get install baresip-core")
	if cfg.Addr == "" {
		cfg.Addr = "127.0.30.4"
	}
	if cfg.Port == 0 {
		cfg.Port = freePortPair(t, cfg.Addr)
	}
	if cfg.Domain == "" {
		cfg.Domain = "voip.test"
	}
	if cfg.User == "" {
		cfg.User = "alice"
	}
	dir := t.TempDir()
	addr := netip.MustParseAddr(cfg.Addr)
	host := cfg.Addr
	if addr.Is6() {
		host = "[" + host + "]"
	}
	b := &BaresipPeer{
		UDPTCP: netip.AddrPortFrom(addr, uint16(cfg.Port)),
		TLS:    netip.AddrPortFrom(addr, uint16(cfg.Port+1)),
		Domain: cfg.Domain,
		AOR:    "sip:" + cfg.User + "@" + host,
		Cert:   NewCert(t, CertSpec{Names: []string{cfg.Domain}, Dir: dir}),
	}
	// baresip reads the key from the certificate file.
	pem := filepath.Join(dir, "sip.pem")
	key, err := os.ReadFile(b.Cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	crt, err := os.ReadFile(b.Cert.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, pem, append(key, crt...), 0o600)

	mods := baresipModules()
	if mods == "" {
		t.Skip("baresip modules not installed: apt-get install baresip-core")
	}
	for _, v := range []string{pem, mods, cfg.Addr} {
		if strings.ContainsAny(v, " \t\n#") {
			t.Fatalf("testpeer: unsupported character in %q for a baresip config", v)
		}
	}
	// Without a config file baresip writes its template, which loads audio drivers and a console UI. This
	// one loads only the account module, so it reads the accounts file; there are no codecs and no audio
	// devices, which OPTIONS does not need. net_interface keeps it from picking the host's address for
	// the Contact and SDP of its answers; regint=0 stops it from registering anywhere.
	conf := fmt.Sprintf(`poll_method epoll
sip_listen %s:%d
sip_certificate %s
net_interface %s
module_path %s
module_app account.so
`, host, cfg.Port, pem, cfg.Addr, mods)
	writeFile(t, filepath.Join(dir, "config"), []byte(conf), 0o644)
	writeFile(t, filepath.Join(dir, "accounts"), []byte("<"+b.AOR+">;regint=0\n"), 0o644)

	argv := []string{bin, "-f", dir}
	b.Peer = newPeer(t, "baresip", dir, argv, []string{b.UDPTCP.String(), b.TLS.String()})
	b.Start()
	return b
}

// baresipModules finds the directory holding account.so.
func baresipModules() string {
	dirs, _ := filepath.Glob("/usr/lib/*/baresip/modules")
	dirs = append([]string{"/usr/lib/baresip/modules", "/usr/local/lib/baresip/modules"}, dirs...)
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "account.so")); err == nil {
			return d
		}
	}
	return ""
}

// freePortPair returns a port free for UDP and TCP whose successor is free for TCP, for baresip's TLS.
func freePortPair(t testing.TB, ip string) int {
	t.Helper()
	for range 50 {
		p := FreePort(t, ip, true)
		if p >= 65535 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p+1)))
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatalf("testpeer: no free pair of ports on %s", ip)
	return 0
}
