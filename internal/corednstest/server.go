// Package corednstest starts a real CoreDNS server, built with srvhealth and the plugins it is used with,
// inside a test process.
package corednstest

import (
	"flag"
	"sync"
	"testing"

	"github.com/coredns/caddy"
	_ "github.com/coredns/coredns/core" // the dns server type
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/bind" // several servers on one port, each on its own loopback address
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/dnssec"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/metadata"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/sign"
	_ "github.com/coredns/coredns/plugin/template"
	_ "github.com/coredns/coredns/plugin/whoami"

	"k8s.io/klog/v2"

	"github.com/srvhealth/srvhealth"
)

var (
	mu   sync.Mutex
	once sync.Once
)

// Input is a Corefile given as a string.
type Input string

func (i Input) Body() []byte       { return []byte(i) }
func (i Input) Path() string       { return "Corefile" }
func (i Input) ServerType() string { return "dns" }

// Server is a running CoreDNS instance.
type Server struct {
	*caddy.Instance
	UDP, TCP string // addresses of the first server block
}

// Start starts CoreDNS from corefile and stops it when the test ends.
func Start(t testing.TB, corefile string) *Server {
	t.Helper()
	s, err := start(corefile)
	if err != nil {
		t.Fatalf("starting CoreDNS: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Shutdown stops the server the way CoreDNS does on exit: the plugins' OnShutdown hooks (which stop
// srvhealth's monitor) and then the listeners. caddy's Instance.Stop alone runs no hook.
func (s *Server) Shutdown() {
	mu.Lock()
	defer mu.Unlock()
	s.ShutdownCallbacks()
	s.Stop()
}

func start(corefile string) (*Server, error) {
	mu.Lock()
	defer mu.Unlock()
	once.Do(func() {
		caddy.Quiet = true
		dnsserver.Quiet = true
		if err := dnsserver.SetDirectives(srvhealth.DirectiveOrder(dnsserver.Directives)); err != nil {
			panic(err)
		}
		// A vmodule filter (matching no file) makes klog check verbosity under its mutex; see below.
		fs := flag.NewFlagSet("klog", flag.ContinueOnError)
		klog.InitFlags(fs)
		if err := fs.Set("vmodule", "corednstest-none=1"); err != nil {
			panic(err)
		}
	})
	// The kubernetes plugin's setup calls klog.SetLogger, which klog documents as unsafe while other
	// goroutines log, and the informers of a kubernetes block stopped earlier in this process log as they
	// wind down: a data race in CoreDNS itself (a reload in production has it too). Those informers make
	// their verbosity checks under klog's mutex (the vmodule filter above); taking it here orders their
	// last checks before the next setup, so tests that start kubernetes blocks one after another in one
	// process (go test -count=N) stay clean under the race detector.
	klog.V(1).Enabled()
	inst, err := caddy.Start(Input(corefile))
	if err != nil {
		return nil, err
	}
	s := &Server{Instance: inst}
	if srvs := inst.Servers(); len(srvs) > 0 {
		if a := srvs[0].LocalAddr(); a != nil {
			s.UDP = a.String()
		}
		if a := srvs[0].Addr(); a != nil {
			s.TCP = a.String()
		}
	}
	return s, nil
}

// Restart replaces the running instance with one built from corefile, the way the reload plugin does.
func (s *Server) Restart(corefile string) error {
	mu.Lock()
	defer mu.Unlock()
	inst, err := s.Instance.Restart(Input(corefile))
	if err != nil {
		return err
	}
	s.Instance = inst
	return nil
}
