package zonesync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func set(name string, ttl uint32, recs ...SRV) RRset {
	return RRset{Name: name, TTL: ttl, Records: recs}.Normalize()
}

var (
	srvA = SRV{10, 60, 5060, "a.example.com."}
	srvB = SRV{10, 40, 5060, "b.example.com."}
	srvC = SRV{20, 0, 5060, "c.example.com."}
)

func TestPlan(t *testing.T) {
	const sip = "_sip._tcp.example.com."
	cur := map[string]RRset{sip: set(sip, 60, srvA, srvB, srvC)}
	tests := []struct {
		name    string
		desired []RRset
		want    int
	}{
		{"same records in another order and case", []RRset{{Name: "_SIP._tcp.example.com", TTL: 60, Records: []SRV{srvC, {10, 40, 5060, "B.example.com"}, srvA}}}, 0},
		{"a record less", []RRset{set(sip, 60, srvA, srvC)}, 1},
		{"the TTL alone", []RRset{set(sip, 30, srvA, srvB, srvC)}, 1},
		{"a new RRset", []RRset{set("_xmpp-client._tcp.example.com.", 60, srvA)}, 1},
		{"never an empty RRset", []RRset{set(sip, 60)}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Plan(tc.desired, cur)
			if len(got) != tc.want {
				t.Fatalf("Plan = %v, want %d changes", got, tc.want)
			}
			for _, c := range got {
				if !c.Before.Equal(cur[c.After.Name]) && cur[c.After.Name].Exists() {
					t.Errorf("Before = %v, want the current %v", c.Before, cur[c.After.Name])
				}
			}
		})
	}
}

func TestChangeString(t *testing.T) {
	c := Change{Before: set("_sip._tcp.example.com.", 300, srvA, srvB), After: set("_sip._tcp.example.com.", 60, srvA)}
	want := "_sip._tcp.example.com. SRV [10 40 5060 b.example.com., 10 60 5060 a.example.com.] ttl 300 -> [10 60 5060 a.example.com.] ttl 60"
	if got := c.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// memProvider is a provider in memory that checks Before like the real ones do.
type memProvider struct {
	sets    map[string]RRset
	applies int
	err     error
}

func (p *memProvider) Name() string { return "mem" }

func (p *memProvider) Records(context.Context) (map[string]RRset, error) {
	out := map[string]RRset{}
	for k, v := range p.sets {
		out[k] = v
	}
	return out, nil
}

func (p *memProvider) Apply(_ context.Context, cs []Change) error {
	p.applies++
	if p.err != nil {
		return p.err
	}
	for _, c := range cs {
		if !p.sets[c.After.Name].Equal(c.Before) {
			return &ConflictError{Name: c.After.Name, Detail: "test"}
		}
		p.sets[c.After.Name] = c.After
	}
	return nil
}

func TestSyncerConflictAndStable(t *testing.T) {
	const sip = "_sip._tcp.example.com."
	p := &memProvider{sets: map[string]RRset{sip: set(sip, 60, srvA, srvB, srvC)}}
	var logs []string
	results := map[string]int{}
	s := &Syncer{Provider: p, Logf: func(f string, a ...any) { logs = append(logs, f) }, Result: func(r string) { results[r]++ }}
	ctx := context.Background()
	want := []RRset{set(sip, 60, srvA, srvC)}
	if cs, err := s.Sync(ctx, want); err != nil || len(cs) != 1 {
		t.Fatalf("Sync = %v, %v", cs, err)
	}
	if cs, _ := s.Sync(ctx, want); len(cs) != 0 || p.applies != 1 {
		t.Fatalf("a second Sync of the same desired made %v (%d applies), want nothing", cs, p.applies)
	}
	// Someone adds a record; the next write notices it, reads again and writes the desired records.
	p.sets[sip] = set(sip, 60, srvA, srvC, SRV{30, 0, 9, "rogue.example.com."})
	want = []RRset{set(sip, 60, srvA)}
	if _, err := s.Sync(ctx, want); err != nil {
		t.Fatal(err)
	}
	if !p.sets[sip].Equal(want[0]) {
		t.Errorf("provider holds %v, want %v", p.sets[sip], want[0])
	}
	if results["conflict"] != 1 || results["ok"] != 2 {
		t.Errorf("results %v, want 1 conflict and 2 ok", results)
	}
}

func TestSyncerDryRun(t *testing.T) {
	const sip = "_sip._tcp.example.com."
	p := &memProvider{sets: map[string]RRset{sip: set(sip, 60, srvA, srvB)}}
	var out bytes.Buffer
	s := &Syncer{Provider: p, DryRun: true, Plan: &out}
	want := []RRset{set(sip, 60, srvA)}
	for range 3 {
		if _, err := s.Sync(context.Background(), want); err != nil {
			t.Fatal(err)
		}
	}
	if p.applies != 0 {
		t.Errorf("dry run applied %d times", p.applies)
	}
	if got := strings.Count(out.String(), "would change "); got != 1 {
		t.Errorf("dry run printed %d changes, want 1:\n%s", got, out.String())
	}
}

func TestSyncerError(t *testing.T) {
	const sip = "_sip._tcp.example.com."
	p := &memProvider{sets: map[string]RRset{}, err: errors.New("refused")}
	results := map[string]int{}
	s := &Syncer{Provider: p, Result: func(r string) { results[r]++ }}
	if _, err := s.Sync(context.Background(), []RRset{set(sip, 60, srvA)}); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Sync error = %v", err)
	}
	if results["error"] != 1 {
		t.Errorf("results %v", results)
	}
}

// TestSyncerNoticesAfterError: a change someone else made is logged when the Syncer reads the provider
// again after a failed write, and a failed write of ours that the provider made all the same is not.
func TestSyncerNoticesAfterError(t *testing.T) {
	const sip = "_sip._tcp.example.com."
	p := &memProvider{sets: map[string]RRset{sip: set(sip, 60, srvA, srvB)}}
	var logs []string
	s := &Syncer{Provider: p, Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }}
	ctx := context.Background()
	if _, err := s.Sync(ctx, []RRset{set(sip, 60, srvA, srvB)}); err != nil {
		t.Fatal(err)
	}
	// A write that times out on our side but is made.
	p.err = errors.New("i/o timeout")
	if _, err := s.Sync(ctx, []RRset{set(sip, 60, srvA)}); err == nil {
		t.Fatal("no error")
	}
	p.err = nil
	p.sets[sip] = set(sip, 60, srvA)
	if _, err := s.Sync(ctx, []RRset{set(sip, 60, srvA)}); err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		if strings.Contains(l, "someone else") {
			t.Errorf("our own timed-out write reported as someone else's: %q", l)
		}
	}
	// Someone else's change, noticed by the re-read after the next failure.
	p.sets[sip] = set(sip, 60, srvA, srvC)
	p.err = errors.New("refused")
	s.Sync(ctx, []RRset{set(sip, 60, srvB)})
	p.err = nil
	logs = nil
	if _, err := s.Sync(ctx, []RRset{set(sip, 60, srvB)}); err != nil {
		t.Fatal(err)
	}
	if len(logs) != 2 || !strings.Contains(logs[0], "changed by someone else (it held [10 60 5060 a.example.com.] ttl 60") ||
		!strings.Contains(logs[0], "it holds [10 60 5060 a.example.com., 20 0 5060 c.example.com.] ttl 60 now") {
		t.Errorf("logs %q", logs)
	}
	if !p.sets[sip].Equal(set(sip, 60, srvB)) {
		t.Errorf("provider holds %v", p.sets[sip])
	}
}
