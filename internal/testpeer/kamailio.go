package testpeer

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// KamailioConfig describes a Kamailio that answers OPTIONS with a fixed code (and anything else with
// 404), over UDP and TCP on one port and TLS on another.
type KamailioConfig struct {
	Addr       string // loopback address to listen on; default 127.0.30.1
	UDPTCPPort int    // default: a free port
	TLSPort    int    // default: a free port
	Code       int    // reply to OPTIONS; default 200
	Domain     string // name in the TLS certificate; default voip.test
}

// KamailioPeer is a running Kamailio.
type KamailioPeer struct {
	*Peer
	UDPTCP netip.AddrPort // SIP over UDP and TCP
	TLS    netip.AddrPort // SIP over TLS
	Domain string
	Cert   *Cert // the server's certificate; Cert.Pool verifies it

	cfg     KamailioConfig
	cfgPath string
}

// Kamailio starts a Kamailio for the test and stops it when the test ends. It skips the test when
// Kamailio or its TLS module is not installed.
func Kamailio(t testing.TB, cfg KamailioConfig) *KamailioPeer {
	t.Helper()
	bin := binary(t, "kamailio", "apt-get install kamailio kamailio-tls-modules")
	mpath := kamailioModules()
	if mpath == "" {
		t.Skip("kamailio tls module not installed: apt-get install kamailio-tls-modules")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.30.1"
	}
	if cfg.UDPTCPPort == 0 {
		cfg.UDPTCPPort = FreePort(t, cfg.Addr, true)
	}
	if cfg.TLSPort == 0 {
		cfg.TLSPort = FreePort(t, cfg.Addr, false)
	}
	if cfg.Code == 0 {
		cfg.Code = 200
	}
	if cfg.Domain == "" {
		cfg.Domain = "voip.test"
	}
	dir := t.TempDir()
	k := &KamailioPeer{
		UDPTCP:  netip.AddrPortFrom(netip.MustParseAddr(cfg.Addr), uint16(cfg.UDPTCPPort)),
		TLS:     netip.AddrPortFrom(netip.MustParseAddr(cfg.Addr), uint16(cfg.TLSPort)),
		Domain:  cfg.Domain,
		Cert:    NewCert(t, CertSpec{Names: []string{cfg.Domain}, Dir: dir}),
		cfg:     cfg,
		cfgPath: filepath.Join(dir, "kamailio.cfg"),
	}
	tlsCfg := fmt.Sprintf(`[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = %s
certificate = %s

[client:default]
verify_certificate = no
require_certificate = no
`, k.Cert.KeyFile, k.Cert.CertFile)
	writeFile(t, filepath.Join(dir, "kamailio-tls.cfg"), []byte(tlsCfg), 0o644)
	k.writeConfig(t, mpath)

	// -DD: stay in the foreground, -E: log to stderr, -Y: runtime files in our directory rather than
	// /run/kamailio, which may not exist or be writable.
	argv := []string{bin, "-DD", "-E", "-f", k.cfgPath, "-Y", dir}
	k.Peer = newPeer(t, "kamailio", dir, argv, []string{k.UDPTCP.String(), k.TLS.String()})
	k.Start()
	return k
}

// SetCode restarts Kamailio answering OPTIONS with code, to turn a healthy server into one that
// answers 503 and back.
func (k *KamailioPeer) SetCode(code int) {
	k.t.Helper()
	k.Stop()
	k.cfg.Code = code
	k.writeConfig(k.t, kamailioModules())
	k.Start()
}

func (k *KamailioPeer) writeConfig(t testing.TB, mpath string) {
	t.Helper()
	q := func(s string) string {
		v, err := kamailioString(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	host := k.cfg.Addr
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	cfg := fmt.Sprintf(`#!KAMAILIO
debug=1
log_stderror=yes
children=1
tcp_children=1
enable_tls=yes
listen=udp:%[1]s:%[2]d
listen=tcp:%[1]s:%[2]d
listen=tls:%[1]s:%[3]d
mpath=%[4]s
loadmodule "tls.so"
loadmodule "sl.so"
modparam("tls", "config", %[5]s)
request_route {
    if (method=="OPTIONS") {
        sl_send_reply("%[6]d", %[7]s);
        exit;
    }
    sl_send_reply("404", "Not Here");
}
`, host, k.cfg.UDPTCPPort, k.cfg.TLSPort, q(mpath+"/"), q(filepath.Join(filepath.Dir(k.cfgPath), "kamailio-tls.cfg")),
		k.cfg.Code, q(phrase(k.cfg.Code)))
	writeFile(t, k.cfgPath, []byte(cfg), 0o644)
}

// kamailioModules finds the module directory holding tls.so; Debian puts it under the multiarch
// triplet.
func kamailioModules() string {
	dirs, _ := filepath.Glob("/usr/lib/*/kamailio/modules")
	dirs = append(dirs, "/usr/lib/kamailio/modules", "/usr/lib64/kamailio/modules", "/usr/local/lib64/kamailio/modules", "/usr/local/lib/kamailio/modules")
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "tls.so")); err == nil {
			return d
		}
	}
	return ""
}

func phrase(code int) string {
	switch code {
	case 200:
		return "OK"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 480:
		return "Temporarily Unavailable"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Server Time-out"
	}
	return "Status " + strconv.Itoa(code)
}
