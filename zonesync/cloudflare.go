package zonesync

import (
	"context"
	"fmt"
	"strings"

	cfdns "github.com/cloudflare/cloudflare-go/v6/dns"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/miekg/dns"
)

// Cloudflare is a zone at Cloudflare, written through Cloudflare's official Go library (its dns records
// service only, not the whole client) with records in the data form. Cloudflare holds one record per
// SRV record, not RRsets: a change adds the records that are new, updates the TTL of those that stay and
// then deletes those that go, so the RRset is never empty on the way; it is made only if a re-read finds
// the RRset as it was last read or written.
type Cloudflare struct {
	ZoneID string
	Names  []string // the owner names whose SRV RRsets are managed
	// Options are the library's request options: the token (option.WithAPIToken), and for tests the
	// endpoint (option.WithBaseURL).
	Options []option.RequestOption

	svc *cfdns.RecordService
}

// NewCloudflare returns the provider for zoneID; token is the API token (Zone.DNS:Edit).
func NewCloudflare(zoneID, token string, names []string, opts ...option.RequestOption) *Cloudflare {
	all := append([]option.RequestOption{option.WithEnvironmentProduction(), option.WithAPIToken(token), option.WithMaxRetries(2)}, opts...)
	return &Cloudflare{ZoneID: zoneID, Names: names, Options: all, svc: cfdns.NewRecordService(all...)}
}

func (p *Cloudflare) Name() string { return "cloudflare" }

// cfRecord is one SRV record as Cloudflare holds it.
type cfRecord struct {
	id  string
	ttl uint32
	srv SRV
}

func (p *Cloudflare) read(ctx context.Context, name string) (RRset, []cfRecord, error) {
	name = strings.ToLower(dns.Fqdn(name))
	var q cfdns.RecordListParams
	q.ZoneID.Value, q.ZoneID.Present = p.ZoneID, true
	q.Type.Value, q.Type.Present = cfdns.RecordListParamsTypeSRV, true
	var n cfdns.RecordListParamsName
	n.Exact.Value, n.Exact.Present = strings.TrimSuffix(name, "."), true
	q.Name.Value, q.Name.Present = n, true
	q.PerPage.Value, q.PerPage.Present = 100, true
	var recs []cfRecord
	s := RRset{Name: name}
	iter := p.svc.ListAutoPaging(ctx, q)
	for i := 0; iter.Next(); i++ {
		if i >= 1000 {
			return RRset{}, nil, fmt.Errorf("%s SRV: more than 1000 records", name)
		}
		r := iter.Current()
		if string(r.Type) != "SRV" || strings.ToLower(dns.Fqdn(r.Name)) != name {
			continue
		}
		d, ok := r.AsUnion().(cfdns.RecordResponseSRV)
		if !ok {
			return RRset{}, nil, fmt.Errorf("%s SRV: record %s has no SRV data", name, r.ID)
		}
		c := cfRecord{id: r.ID, ttl: uint32(r.TTL), srv: SRV{Priority: uint16(d.Data.Priority), Weight: uint16(d.Data.Weight),
			Port: uint16(d.Data.Port), Target: strings.ToLower(dns.Fqdn(d.Data.Target))}}
		if len(recs) == 0 || c.ttl < s.TTL {
			s.TTL = c.ttl
		}
		recs = append(recs, c)
		s.Records = append(s.Records, c.srv)
	}
	if err := iter.Err(); err != nil {
		return RRset{}, nil, fmt.Errorf("%s SRV: %w", name, err)
	}
	return s.Normalize(), recs, nil
}

// Records reads the SRV RRset of each managed name.
func (p *Cloudflare) Records(ctx context.Context) (map[string]RRset, error) {
	out := map[string]RRset{}
	for _, n := range p.Names {
		s, _, err := p.read(ctx, n)
		if err != nil {
			return nil, err
		}
		if s.Exists() {
			out[s.Name] = s
		}
	}
	return out, nil
}

func (p *Cloudflare) param(name string, ttl uint32, r SRV) cfdns.SRVRecordParam {
	var b cfdns.SRVRecordParam
	b.Name.Value, b.Name.Present = strings.TrimSuffix(name, "."), true
	b.Type.Value, b.Type.Present = cfdns.SRVRecordTypeSRV, true
	b.TTL.Value, b.TTL.Present = cfdns.TTL(ttl), true
	var d cfdns.SRVRecordDataParam
	d.Priority.Value, d.Priority.Present = float64(r.Priority), true
	d.Weight.Value, d.Weight.Present = float64(r.Weight), true
	d.Port.Value, d.Port.Present = float64(r.Port), true
	d.Target.Value, d.Target.Present = strings.TrimSuffix(r.Target, "."), true
	if r.Target == "." {
		d.Target.Value = "."
	}
	b.Data.Value, b.Data.Present = d, true
	return b
}

// Apply makes each change after a re-read that finds its RRset as Before.
func (p *Cloudflare) Apply(ctx context.Context, changes []Change) error {
	for _, c := range changes {
		cur, recs, err := p.read(ctx, c.After.Name)
		if err != nil {
			return err
		}
		if !cur.Equal(c.Before) {
			return &ConflictError{Name: c.After.Name, Detail: "expected " + c.Before.String() + ", a re-read holds " + cur.String()}
		}
		have := map[SRV]cfRecord{}
		for _, r := range recs {
			if _, dup := have[r.srv]; dup {
				continue // a duplicate goes with the others that are not wanted
			}
			have[r.srv] = r
		}
		want := map[SRV]bool{}
		for _, r := range c.After.Records {
			want[r] = true
			if h, ok := have[r]; ok {
				if h.ttl != c.After.TTL {
					var u cfdns.RecordUpdateParams
					u.ZoneID.Value, u.ZoneID.Present = p.ZoneID, true
					u.Body = p.param(c.After.Name, c.After.TTL, r)
					if _, err := p.svc.Update(ctx, h.id, u); err != nil {
						return fmt.Errorf("update %s SRV %s: %w", c.After.Name, r, err)
					}
				}
				continue
			}
			var n cfdns.RecordNewParams
			n.ZoneID.Value, n.ZoneID.Present = p.ZoneID, true
			n.Body = p.param(c.After.Name, c.After.TTL, r)
			if _, err := p.svc.New(ctx, n); err != nil {
				return fmt.Errorf("create %s SRV %s: %w", c.After.Name, r, err)
			}
		}
		for _, r := range recs {
			if want[r.srv] && have[r.srv].id == r.id {
				continue
			}
			var d cfdns.RecordDeleteParams
			d.ZoneID.Value, d.ZoneID.Present = p.ZoneID, true
			if _, err := p.svc.Delete(ctx, r.id, d); err != nil {
				return fmt.Errorf("delete %s SRV %s: %w", c.After.Name, r.srv, err)
			}
		}
	}
	return nil
}
