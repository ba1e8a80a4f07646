// Package testpeer runs real SIP and XMPP servers (Kamailio, baresip, Prosody, ejabberd) on loopback for
// tests.
//
// Each server gets its configuration, certificate and log in a t.TempDir(), runs in the foreground in
// its own process group, and is stopped by that group's id when the test ends. Ports default to free
// ones, so tests in different packages can run at the same time. A test whose server is not installed
// is skipped, naming the Debian package; CI installs them all.
package testpeer

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts for a server to come up and to go away. Kamailio, Prosody and baresip start in well under a
// second, ejabberd (an Erlang VM) in about two; the margin is for a loaded CI machine.
const (
	startTimeout = 15 * time.Second
	stopTimeout  = 5 * time.Second
)

// Peer is a server process. Start and Stop may be called repeatedly (to take a server away and bring
// it back in end-to-end tests) but only from the test's goroutine, as they call t.Fatal.
type Peer struct {
	Name string // "kamailio", "prosody", "ejabberd", "baresip"
	Dir  string // holds the configuration, certificates and log

	t     testing.TB
	argv  []string
	env   []string // added to the test's environment
	ready []string // TCP addresses that accept once the server is up
	// serving, when set, is polled after the ready addresses accept, until it returns nil or deadline
	// passes: a server that opens its ports before it can answer on them says here when it can.
	serving      func(deadline time.Time) error
	startTimeout time.Duration
	logPath      string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

func newPeer(t testing.TB, name, dir string, argv []string, ready []string) *Peer {
	p := &Peer{Name: name, Dir: dir, t: t, argv: argv, ready: ready, startTimeout: startTimeout, logPath: filepath.Join(dir, name+".log")}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log (%s):\n%s", name, p.logPath, tail(p.Log(), 4000))
		}
		p.Stop()
	})
	return p
}

// Start runs the server and returns once every one of its TCP ports accepts connections (and, for a server
// that says so, once it answers on them). It fails the test if the server exits or does not come up in
// time.
func (p *Peer) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Dir = p.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if len(p.env) > 0 {
		cmd.Env = append(os.Environ(), p.env...)
	}
	// Its own process group, so Stop reaches the children Kamailio forks; and killed with us if the
	// test binary dies before its cleanups run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("testpeer: start %s: %v", p.Name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	p.cmd, p.exited = cmd, exited

	checks := make([]func(time.Time) error, 0, len(p.ready)+1)
	for _, addr := range p.ready {
		checks = append(checks, func(time.Time) error {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err
		})
	}
	if p.serving != nil {
		checks = append(checks, p.serving)
	}
	deadline := time.Now().Add(p.startTimeout)
	for _, check := range checks {
		for {
			err := check(deadline)
			if err == nil {
				break
			}
			select {
			case <-exited:
				p.stopLocked()
				p.t.Fatalf("testpeer: %s exited during start-up (%v); log:\n%s", p.Name, cmd.ProcessState, tail(p.Log(), 4000))
			case <-time.After(20 * time.Millisecond): // polling: none of the servers can tell us it is ready
			}
			if time.Now().After(deadline) {
				p.stopLocked()
				p.t.Fatalf("testpeer: %s not ready after %v (%v); log:\n%s", p.Name, p.startTimeout, err, tail(p.Log(), 4000))
			}
		}
	}
}

// Stop ends the server: SIGTERM to its process group, SIGKILL if it is still there after stopTimeout.
// It returns once the main process has been reaped. Stopping a stopped peer does nothing.
func (p *Peer) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
}

func (p *Peer) stopLocked() {
	if p.cmd == nil {
		return
	}
	pgid := p.cmd.Process.Pid // Setpgid: the group id is the leader's pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	syscall.Kill(-pgid, syscall.SIGCONT) // a frozen server must run to see the SIGTERM
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	// No group kill after the leader is reaped: the id could then name someone else's group. Kamailio's
	// main process stops its workers before it exits, and Prosody is a single process.
	p.cmd, p.exited = nil, nil
}

// Freeze stops the server's processes with SIGSTOP: its sockets stay open and the kernel still accepts
// TCP connections and queues UDP datagrams, but nothing answers. It is the hung server of the design notes,
// the worst kind of dead target. Thaw lets it run again.
func (p *Peer) Freeze() { p.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server with SIGCONT.
func (p *Peer) Thaw() { p.signal(syscall.SIGCONT) }

func (p *Peer) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// Running reports whether the server process is started and has not exited.
func (p *Peer) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Log returns what the server has written to stdout and stderr so far.
func (p *Peer) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// FreePort returns a port on ip that is free for TCP and, with udp, for UDP too (Kamailio serves both
// on one port). Another process may take it before the caller binds it; ports from the ephemeral range
// make that unlikely.
func FreePort(t testing.TB, ip string, udp bool) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("testpeer: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		ok := true
		if udp {
			pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				ok = false
			} else {
				pc.Close()
			}
		}
		l.Close()
		if ok {
			return port
		}
	}
	t.Fatalf("testpeer: no free port on %s", ip)
	return 0
}

// binary finds a server binary; daemons live in sbin, which is not on every user's PATH.
func binary(t testing.TB, name, hint string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	t.Skipf("%s not installed: %s", name, hint)
	return ""
}

// lua quotes s as a Lua string literal; Go's quoting is a subset of Lua's for the strings we write.
func lua(s string) string { return strconv.Quote(s) }

// kamailioString quotes s for a Kamailio configuration file.
func kamailioString(s string) (string, error) {
	if strings.ContainsAny(s, "\"\\\n") {
		return "", errors.New("testpeer: unsupported character in " + fmt.Sprintf("%q", s))
	}
	return `"` + s + `"`, nil
}
