package test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
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

	// The examples name files relative to the working directory, as CoreDNS's own READMEs do: run them in
	// a directory of their own that holds those files.
	dir := t.TempDir()
	for name, src := range map[string]string{"db.example.com": "../testdata/example.com.db", "db.example.net": "../testdata/example.net.db"} {
		zone, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), zone, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	port := dnsserver.Port
	dnsserver.Port = "0"
	defer func() { dnsserver.Port = port }()
	for _, ex := range examples {
		CoreDNS(t, ex)
	}
}
