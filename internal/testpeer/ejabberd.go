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
	"time"
)

// EjabberdConfig describes an ejabberd serving one domain: c2s with STARTTLS, s2s, and XEP-0368 direct
// TLS for both.
type EjabberdConfig struct {
	Addr             string // loopback address to listen on; default 127.0.30.3
	Domain           string // the one host it serves; default voip.test
	C2SPort          int    // default: a free port
	S2SPort          int    // default: a free port
	DirectTLSPort    int    // c2s with TLS from the first byte; default: a free port
	S2SDirectTLSPort int    // s2s with TLS from the first byte; default: a free port
}

// EjabberdPeer is a running ejabberd.
type EjabberdPeer struct {
	*Peer
	C2S          netip.AddrPort
	S2S          netip.AddrPort
	DirectTLS    netip.AddrPort
	S2SDirectTLS netip.AddrPort
	Domain       string
	Cert         *Cert // the host's certificate; Cert.Pool verifies it
}

// Ejabberd starts an ejabberd for the test and stops it when the test ends. It skips the test when
// ejabberd is not installed.
//
// It runs the Erlang VM directly rather than through ejabberdctl: ejabberdctl runs only as root or the
// ejabberd user, switches to that user (which then needs to own every file it reads), and gives the VM a
// node name, which starts epmd, the Erlang port mapper, as a daemon outside our process group and bound to
// a fixed port shared by every test. Without a node name the VM starts no distribution and no epmd, and
// ejabberd needs neither to serve one host; everything it runs stays in the process group Stop ends.
func Ejabberd(t testing.TB, cfg EjabberdConfig) *EjabberdPeer {
	t.Helper()
	erl := binary(t, "erl", "apt-get install ejabberd")
	libs := ejabberdLibs()
	if libs == "" {
		t.Skip("ejabberd not installed: apt-get install ejabberd")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.30.3"
	}
	if cfg.Domain == "" {
		cfg.Domain = "voip.test"
	}
	for _, p := range []*int{&cfg.C2SPort, &cfg.S2SPort, &cfg.DirectTLSPort, &cfg.S2SDirectTLSPort} {
		if *p == 0 {
			*p = FreePort(t, cfg.Addr, false)
		}
	}
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	if err := os.Mkdir(spool, 0o750); err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr(cfg.Addr)
	e := &EjabberdPeer{
		C2S:          netip.AddrPortFrom(addr, uint16(cfg.C2SPort)),
		S2S:          netip.AddrPortFrom(addr, uint16(cfg.S2SPort)),
		DirectTLS:    netip.AddrPortFrom(addr, uint16(cfg.DirectTLSPort)),
		S2SDirectTLS: netip.AddrPortFrom(addr, uint16(cfg.S2SDirectTLSPort)),
		Domain:       cfg.Domain,
		Cert:         NewCert(t, CertSpec{Names: []string{cfg.Domain}, Dir: dir}),
	}
	// s2s_use_starttls optional, as a federating server has it: s2s then offers STARTTLS as Prosody's
	// does. ejabberd's default (false) offers none, and "required" adds <required/>; either way a probe
	// gets its stream features. No access rules or accounts: the probes never authenticate.
	conf := fmt.Sprintf(`hosts:
  - %[1]s
loglevel: info
certfiles:
  - %[2]s
  - %[3]s
s2s_use_starttls: optional
listen:
  - port: %[5]d
    ip: %[4]s
    module: ejabberd_c2s
    starttls: true
  - port: %[6]d
    ip: %[4]s
    module: ejabberd_s2s_in
  - port: %[7]d
    ip: %[4]s
    module: ejabberd_c2s
    tls: true
  - port: %[8]d
    ip: %[4]s
    module: ejabberd_s2s_in
    tls: true
auth_method: internal
modules:
  mod_disco: {}
  mod_ping: {}
`, yamlString(cfg.Domain), yamlString(e.Cert.CertFile), yamlString(e.Cert.KeyFile), yamlString(cfg.Addr),
		cfg.C2SPort, cfg.S2SPort, cfg.DirectTLSPort, cfg.S2SDirectTLSPort)
	cfgPath := filepath.Join(dir, "ejabberd.yml")
	writeFile(t, cfgPath, []byte(conf), 0o644)

	mnesiaDir, err := erlangString(spool)
	if err != nil {
		t.Fatal(err)
	}
	// What ejabberdctl foreground runs, less the node name (see above). +K true: kernel poll, as
	// ejabberdctl sets it. +sbwt none and its dirty-scheduler forms: no busy waiting, whose spinning
	// threads, on a loaded machine, take the CPU from the one doing the work; start-up under load took
	// twice as long with it.
	argv := []string{erl, "-noinput", "-noshell", "+K", "true", "+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none",
		"-mnesia", "dir", mnesiaDir, "-s", "ejabberd"}
	e.Peer = newPeer(t, "ejabberd", dir, argv, []string{e.C2S.String(), e.S2S.String(), e.DirectTLS.String(), e.S2SDirectTLS.String()})
	// ejabberd listens before it has finished starting: a connection is accepted and then waits, seconds
	// on a loaded machine, for an answer. It is up when a c2s stream gets its features. Its start-up takes
	// 1.5 s of CPU, so the margin for a loaded machine is wider than the other servers need.
	e.serving = func(deadline time.Time) error {
		_, err := xmppFeatures(e.C2S.String(), "jabber:client", e.Domain, deadline)
		return err
	}
	e.startTimeout = 3 * startTimeout
	e.env = []string{
		"ERL_LIBS=" + libs,
		"EJABBERD_CONFIG_PATH=" + cfgPath,
		"EJABBERD_LOG_PATH=" + filepath.Join(dir, "ejabberd.log"),
		"ERL_CRASH_DUMP_BYTES=0", // no crash dump files when a test kills it
		"HOME=" + dir,            // anything the VM would keep in a home directory stays in ours
	}
	e.Start()
	return e
}

// ejabberdLibs finds the directory that holds ejabberd's OTP application (ejabberd-VERSION/ebin), which
// goes into ERL_LIBS as ejabberdctl puts it there; Debian keeps it under the multiarch triplet.
func ejabberdLibs() string {
	for _, pat := range []string{"/usr/lib/*/ejabberd-*/ebin/ejabberd.app", "/usr/lib/ejabberd-*/ebin/ejabberd.app", "/usr/local/lib/ejabberd-*/ebin/ejabberd.app"} {
		if m, _ := filepath.Glob(pat); len(m) > 0 {
			return filepath.Dir(filepath.Dir(filepath.Dir(m[0])))
		}
	}
	return ""
}

// yamlString quotes s as a YAML double-quoted scalar; Go's quoting is a subset of YAML's for the strings
// we write.
func yamlString(s string) string { return strconv.Quote(s) }

// erlangString quotes s as an Erlang string term for the command line.
func erlangString(s string) (string, error) {
	if strings.ContainsAny(s, "\"\\\n") {
		return "", fmt.Errorf("testpeer: unsupported character in %q", s)
	}
	return `"` + s + `"`, nil
}

// xmppFeatures opens an XMPP stream with namespace ns to domain at addr and returns what the server sent
// up to the end of its stream features, or an error when it sent something else, closed, or did not get
// there by deadline.
func xmppFeatures(addr, ns, domain string, deadline time.Time) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Until(deadline))
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	if _, err := fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream to='%s' xmlns='%s' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>", domain, ns); err != nil {
		return "", err
	}
	var got []byte
	buf := make([]byte, 4096)
	for len(got) < 64<<10 {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		switch {
		case strings.Contains(string(got), "</stream:features>"):
			return string(got), nil
		case strings.Contains(string(got), "</stream:stream>"):
			return string(got), fmt.Errorf("stream closed: %.200s", got)
		case err != nil:
			return string(got), err
		}
	}
	return string(got), fmt.Errorf("no stream features in %d bytes", len(got))
}
