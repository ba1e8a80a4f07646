package test

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"
)

// TestReadme does for our README what CoreDNS's test/readme_test.go does for its plugins': the sections
// Name, Description, Syntax and Examples come in that order, and every "~~~ corefile" example starts a
// server.
func TestReadme(t *testing.T) {
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var sections []string
	var examples []string
	var cur *strings.Builder
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			sections = append(sections, strings.TrimPrefix(line, "## "))
		case line == "~~~ corefile":
			cur = &strings.Builder{}
		case line == "~~~" && cur != nil:
			examples = append(examples, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	want := []string{"Name", "Description", "Syntax", "Examples"}
	i := 0
	for _, sec := range sections {
		if i < len(want) && sec == want[i] {
			i++
		}
	}
	if i != len(want) {
		t.Errorf("README sections %v: want %v in that order", sections, want)
	}
	if len(examples) < 2 {
		t.Fatalf("found %d corefile examples, want at least 2", len(examples))
	}

	// The examples name their files relative to the repository's root, where the README tells the reader
	// to run them: run them there, as printed.
	t.Chdir("..")
	port := dnsserver.Port
	dnsserver.Port = "0"
	defer func() { dnsserver.Port = port }()
	for _, ex := range examples {
		srv := CoreDNS(t, ex)
		// An example serving a zone file must find it: the file plugin starts without it and answers
		// SERVFAIL, so ask the zone's SOA as the reader's dig would.
		if !strings.Contains(ex, "\n    file ") {
			continue
		}
		zone := dns.Fqdn(strings.Fields(ex)[0])
		if m := Exchange(t, "udp", srv.UDP, zone, dns.TypeSOA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Errorf("example serving %s answers its SOA with %s %v:\n%s", zone, dns.RcodeToString[m.Rcode], m.Answer, ex)
		}
	}
}
