package zonesync

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cloudflare/cloudflare-go/v6/option"

	"github.com/srvhealth/srvhealth/internal/dnsapi"
)

func cfSRV(prio, weight, port int, target string, ttl int) dnsapi.CFRecord {
	return dnsapi.CFRecord{Name: "_sip._tcp.example.com", Type: "SRV", TTL: ttl, Data: &dnsapi.CFData{Priority: prio, Weight: weight, Port: port, Target: target}}
}

// TestCloudflare writes through Cloudflare's Go library to a fake of its API: records in the data form,
// new ones added before the old ones go (never an empty RRset), the TTL updated in place, the other
// records untouched, nothing written while stable, and a dashboard change noticed by the re-read.
func TestCloudflare(t *testing.T) {
	const sip = "_sip._tcp.example.com."
	f := dnsapi.NewCloudflare("zone123", "tok",
		dnsapi.CFRecord{Name: "example.com", Type: "A", TTL: 300, Content: "192.0.2.1"},
		dnsapi.CFRecord{Name: "_ldap._tcp.example.com", Type: "SRV", TTL: 300, Data: &dnsapi.CFData{Port: 389, Target: "ldap.example.com"}},
		cfSRV(10, 60, 5060, "a.example.com", 300), cfSRV(10, 40, 5060, "b.example.com", 300))
	t.Cleanup(f.Close)
	p := NewCloudflare("zone123", "tok", []string{sip}, option.WithBaseURL(f.URL()), option.WithMaxRetries(0))
	ctx := context.Background()
	cur, err := p.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := set(sip, 300, srvA, srvB); !cur[sip].Equal(want) || len(cur) != 1 {
		t.Fatalf("Records = %v, want only %v", cur, want)
	}
	results := map[string]int{}
	s := &Syncer{Provider: p, Result: func(r string) { results[r]++ }}
	want := []RRset{set(sip, 60, srvA, srvC)}
	if _, err := s.Sync(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Methods, " "); got != "PUT POST DELETE" {
		t.Errorf("writes %q, want PUT (a's TTL) POST (c) DELETE (b)", got)
	}
	var sipRecs []string
	for _, r := range f.Records() {
		if r.Name == "_sip._tcp.example.com" {
			sipRecs = append(sipRecs, r.Data.Target)
			if r.TTL != 60 {
				t.Errorf("%s TTL %d", r.Data.Target, r.TTL)
			}
		}
	}
	slices.Sort(sipRecs)
	if !slices.Equal(sipRecs, []string{"a.example.com", "c.example.com"}) {
		t.Errorf("Cloudflare holds %v", sipRecs)
	}
	if n := len(f.Records()); n != 4 {
		t.Errorf("%d records, want 4 (the A and the _ldap SRV untouched)", n)
	}
	s.Sync(ctx, want)
	if len(f.Methods) != 3 {
		t.Errorf("a stable state wrote again: %v", f.Methods)
	}
	f.Add(cfSRV(30, 0, 9, "rogue.example.com", 60))
	if _, err := s.Sync(ctx, []RRset{set(sip, 60, srvA)}); err != nil {
		t.Fatal(err)
	}
	if results["conflict"] != 1 {
		t.Errorf("results %v, want a conflict", results)
	}
	for _, r := range f.Records() {
		if r.Name == "_sip._tcp.example.com" && r.Data.Target != "a.example.com" {
			t.Errorf("left %+v", r)
		}
	}
}

func TestCloudflareBadToken(t *testing.T) {
	f := dnsapi.NewCloudflare("zone123", "tok")
	t.Cleanup(f.Close)
	p := NewCloudflare("zone123", "wrong", []string{"_sip._tcp.example.com."}, option.WithBaseURL(f.URL()), option.WithMaxRetries(0))
	if _, err := p.Records(context.Background()); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("err = %v, want the 403", err)
	}
}
