package srvhealth_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// writeZone writes a zone file into a temporary directory and returns its path.
func writeZone(t *testing.T, zone string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(p, []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func exchange(t *testing.T, net, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: net, Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s: %v", net, name, err)
	}
	return r
}

func srvTargets(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, s.Target)
		}
	}
	slices.Sort(out)
	return out
}

// eventually polls f every 20 ms until it returns true or the deadline passes.
func eventually(t *testing.T, within time.Duration, f func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if f() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f()
}
