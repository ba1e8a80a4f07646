package zonesync

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/srvhealth/srvhealth/internal/dnsapi"
)

func fakeRoute53(t *testing.T, pending int, sets ...dnsapi.R53Set) (*dnsapi.Route53, *Route53) {
	f := dnsapi.NewRoute53("Z0FAKE", sets...)
	f.PendingPolls = pending
	t.Cleanup(f.Close)
	api := route53.New(route53.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDFAKE", "secretfake", ""),
	})
	return f, &Route53{API: api, ZoneID: "/hostedzone/Z0FAKE", Names: []string{"_sip._tcp.example.com.", "_xmpp-client._tcp.example.com."},
		Poll: 10 * time.Millisecond, Wait: 2 * time.Second}
}

// TestRoute53 writes through the AWS SDK to a fake of the Route 53 API: one UPSERT per RRset, waited for
// from PENDING to INSYNC; the records it does not manage are untouched; a stable state costs no write;
// a change made in the console meanwhile is noticed by the re-read, and the desired records win.
func TestRoute53(t *testing.T) {
	const sip = "_sip._tcp.example.com."
	other := []dnsapi.R53Set{
		{Name: "example.com.", Type: "SOA", TTL: 900, Values: []string{"ns-1.awsdns-1.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"}},
		{Name: "_ldap._tcp.example.com.", Type: "SRV", TTL: 300, Values: []string{"0 0 389 ldap.example.com."}},
		{Name: "a.example.com.", Type: "A", TTL: 300, Values: []string{"192.0.2.1"}},
	}
	f, p := fakeRoute53(t, 2, append(other, dnsapi.R53Set{Name: sip, Type: "SRV", TTL: 300,
		Values: []string{"10 60 5060 a.example.com.", "10 40 5060 b.example.com.", "20 0 5060 c.example.com."}})...)
	ctx := context.Background()
	cur, err := p.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := set(sip, 300, srvA, srvB, srvC); !cur[sip].Equal(want) || len(cur) != 1 {
		t.Fatalf("Records = %v, want only %v", cur, want)
	}
	results := map[string]int{}
	s := &Syncer{Provider: p, Result: func(r string) { results[r]++ }}
	want := []RRset{set(sip, 60, srvA, srvC)}
	if _, err := s.Sync(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, _ := f.Get(sip, "SRV")
	if got.TTL != 60 || !slices.Equal(got.Values, []string{"10 60 5060 a.example.com.", "20 0 5060 c.example.com."}) {
		t.Errorf("Route 53 holds %+v", got)
	}
	if len(f.Batches) != 1 || len(f.Batches[0]) != 1 || f.Batches[0][0].Action != "UPSERT" {
		t.Errorf("batches %+v, want one UPSERT", f.Batches)
	}
	if f.GetCalls != 3 {
		t.Errorf("%d GetChange calls, want 3 (PENDING twice, then INSYNC)", f.GetCalls)
	}
	for _, o := range other {
		if g, _ := f.Get(o.Name, o.Type); !slices.Equal(g.Values, o.Values) || g.TTL != o.TTL {
			t.Errorf("%s %s changed: %+v", o.Name, o.Type, g)
		}
	}
	s.Sync(ctx, want)
	if len(f.Batches) != 1 {
		t.Errorf("a stable state wrote again: %d batches", len(f.Batches))
	}

	// A manual change in the console; the next write re-reads, notices it, and the file wins.
	f.Put(dnsapi.R53Set{Name: sip, Type: "SRV", TTL: 60, Values: []string{"10 60 5060 a.example.com.", "30 0 9 rogue.example.com."}})
	want = []RRset{set(sip, 60, srvA)}
	if _, err := s.Sync(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Get(sip, "SRV"); !slices.Equal(got.Values, []string{"10 60 5060 a.example.com."}) {
		t.Errorf("after the conflict Route 53 holds %+v", got)
	}
	if results["conflict"] != 1 {
		t.Errorf("results %v, want a conflict", results)
	}

	// A new RRset is created by the UPSERT.
	x := "_xmpp-client._tcp.example.com."
	if _, err := s.Sync(ctx, append(want, set(x, 60, SRV{5, 0, 5222, "x.example.com."}))); err != nil {
		t.Fatal(err)
	}
	if got, ok := f.Get(x, "SRV"); !ok || got.Values[0] != "5 0 5222 x.example.com." {
		t.Errorf("new RRset: %+v", got)
	}
}

func TestRoute53NeverInSync(t *testing.T) {
	const sip = "_sip._tcp.example.com."
	_, p := fakeRoute53(t, -1)
	p.Wait = 200 * time.Millisecond
	err := p.Apply(context.Background(), []Change{{Before: RRset{Name: sip}, After: set(sip, 60, srvA)}})
	if err == nil || !strings.Contains(err.Error(), "not INSYNC") {
		t.Errorf("err = %v, want not INSYNC", err)
	}
}
