package test

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The CoreDNS binary built from cmd/coredns, once per test process, at a fixed place under the system's
// temporary directory: the next run rebuilds it from Go's build cache in seconds, and nothing piles up.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binOut  []byte
)

// CoreDNSBinary builds cmd/coredns (once per test process) and returns its path.
func CoreDNSBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(os.TempDir(), "srvhealth-test-coredns", "coredns")
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		build := exec.Command(goTool, "build", "-o", binPath, "github.com/srvhealth/srvhealth/cmd/coredns")
		binOut, binErr = build.CombinedOutput()
	})
	if binErr != nil {
		t.Fatalf("go build ./cmd/coredns: %v\n%s", binErr, binOut)
	}
	return binPath
}

// Process is a CoreDNS process started from the binary, as an operator runs it.
type Process struct {
	t        testing.TB
	corefile string
	cmd      *exec.Cmd
	mu       sync.Mutex
	log      strings.Builder
	done     chan struct{}
}

// StartProcess starts the CoreDNS binary on corefile and kills it when the test ends. It does not wait for
// the server to answer: see WaitReady.
func StartProcess(t testing.TB, corefile string) *Process {
	t.Helper()
	bin := CoreDNSBinary(t)
	p := &Process{t: t, corefile: WriteFile(t, "Corefile", corefile)}
	p.start(bin)
	t.Cleanup(func() { p.Kill() })
	return p
}

func (p *Process) start(bin string) {
	p.t.Helper()
	p.cmd = exec.Command(bin, "-conf", p.corefile)
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("starting %s: %v", bin, err)
	}
	p.done = make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			if p.log.Len() < 1<<20 {
				p.log.WriteString(sc.Text() + "\n")
			}
			p.mu.Unlock()
		}
		_ = p.cmd.Wait()
	}(p.done)
}

// Log returns what the process wrote so far (the first MiB).
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Kill ends the process at once (SIGKILL, after SIGCONT if it was stopped) and waits for it.
func (p *Process) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Terminate asks the process to end (SIGTERM: CoreDNS runs its shutdown hooks) and waits up to 10 s.
func (p *Process) Terminate() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.Kill()
	}
}

// Restart starts the process again on the same Corefile, after Kill or Terminate.
func (p *Process) Restart() {
	p.t.Helper()
	p.mu.Lock()
	p.log.Reset()
	p.mu.Unlock()
	p.start(CoreDNSBinary(p.t))
}

// Freeze stops the process (SIGSTOP): it holds its sockets and answers nothing, like a hung node.
func (p *Process) Freeze() { _ = p.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw lets a frozen process go on (SIGCONT).
func (p *Process) Thaw() { _ = p.cmd.Process.Signal(syscall.SIGCONT) }

// WaitReady polls the ready plugin at readyAddr every 20 ms until it answers 200, and returns how long that
// took; it fails the test after within.
func (p *Process) WaitReady(readyAddr string, within time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	c := &http.Client{Timeout: time.Second}
	for time.Since(start) < within {
		select {
		case <-p.done:
			p.t.Fatalf("CoreDNS exited before it was ready:\n%s", p.Log())
		default:
		}
		resp, err := c.Get("http://" + readyAddr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("CoreDNS not ready at %s after %v:\n%s", readyAddr, within, p.Log())
	return 0
}

// ScrapeValue returns the value of the first series of metric name at the prometheus endpoint addr whose
// line contains every one of labels ("name=\"value\""), and whether there is one.
func ScrapeValue(t testing.TB, addr, name string, labels ...string) (float64, bool) {
	t.Helper()
	code, body := HTTPGet(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		return 0, false
	}
next:
	for l := range strings.Lines(body) {
		if !strings.HasPrefix(l, name+" ") && !strings.HasPrefix(l, name+"{") {
			continue
		}
		for _, lb := range labels {
			if !strings.Contains(l, lb) {
				continue next
			}
		}
		f := strings.Fields(l)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		return v, err == nil
	}
	return 0, false
}
