package main

import (
	"os"
	"strings"
	"testing"

	"github.com/srvhealth/srvhealth/lint"
)

// The project README's section on srvhealth check lists every rule, in the order and with the
// severity of lint.Rules, and the four exit statuses.
func TestReadmeRules(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## srvhealth check\n")
	if !ok {
		t.Fatal(`README.md has no "## srvhealth check" section`)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var got []string
	statuses := 0
	for _, l := range strings.Split(sec, "\n") {
		cells := strings.Split(l, " | ")
		switch {
		case strings.HasPrefix(l, "| `") && len(cells) == 3:
			got = append(got, strings.Trim(cells[0], "| `")+" "+cells[1])
		case strings.HasPrefix(l, "| ") && len(cells) == 2 && strings.Contains("0123", strings.TrimPrefix(cells[0], "| ")):
			statuses++
		}
	}
	var want []string
	for _, r := range lint.Rules() {
		want = append(want, r.Code+" "+r.Severity.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("README rules:\n%s\nwant (lint.Rules):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if statuses != 4 {
		t.Errorf("README lists %d exit statuses, want 4", statuses)
	}
}
