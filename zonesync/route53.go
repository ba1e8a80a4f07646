package zonesync

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"
)

// Route53API is the part of the Route 53 client the provider uses; *route53.Client implements it.
type Route53API interface {
	ListResourceRecordSets(context.Context, *route53.ListResourceRecordSetsInput, ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error)
	ChangeResourceRecordSets(context.Context, *route53.ChangeResourceRecordSetsInput, ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error)
	GetChange(context.Context, *route53.GetChangeInput, ...func(*route53.Options)) (*route53.GetChangeOutput, error)
}

// Route53 is a hosted zone at Amazon Route 53. Each change is an UPSERT of one RRset, made only if a
// re-read finds the RRset as it was last read or written, and waited for until Route 53 reports it
// INSYNC (on all of its name servers).
type Route53 struct {
	API    Route53API
	ZoneID string   // the hosted zone id, "Z0123456789ABCDEFGHIJ" (a "/hostedzone/" prefix is accepted)
	Names  []string // the owner names whose SRV RRsets are managed
	// Poll is the wait between two GetChange calls; default 5s. Wait bounds the wait for INSYNC; default
	// 3 minutes (Route 53 documents propagation "within 60 seconds" in general).
	Poll, Wait time.Duration
}

func (p *Route53) Name() string { return "route53" }

func (p *Route53) zoneID() *string { return aws.String(strings.TrimPrefix(p.ZoneID, "/hostedzone/")) }

// read returns the SRV RRset of name: the first record set listed from (name, SRV), if it is that one.
func (p *Route53) read(ctx context.Context, name string) (RRset, error) {
	name = strings.ToLower(dns.Fqdn(name))
	out, err := p.API.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId: p.zoneID(), StartRecordName: aws.String(name), StartRecordType: types.RRTypeSrv, MaxItems: aws.Int32(1),
	})
	if err != nil {
		return RRset{}, err
	}
	s := RRset{Name: name}
	for _, rs := range out.ResourceRecordSets {
		if rs.Type != types.RRTypeSrv || strings.ToLower(dns.Fqdn(aws.ToString(rs.Name))) != name {
			continue
		}
		if rs.SetIdentifier != nil || rs.AliasTarget != nil {
			return RRset{}, fmt.Errorf("%s SRV is a weighted, failover or alias record set (%s); srvhealth sync only writes simple ones", name, aws.ToString(rs.SetIdentifier))
		}
		s.TTL = uint32(aws.ToInt64(rs.TTL))
		for _, r := range rs.ResourceRecords {
			srv, err := parseSRVData(aws.ToString(r.Value))
			if err != nil {
				return RRset{}, fmt.Errorf("%s SRV: %v", name, err)
			}
			s.Records = append(s.Records, srv)
		}
	}
	return s.Normalize(), nil
}

// Records reads the SRV RRset of each managed name.
func (p *Route53) Records(ctx context.Context) (map[string]RRset, error) {
	out := map[string]RRset{}
	for _, n := range p.Names {
		s, err := p.read(ctx, n)
		if err != nil {
			return nil, err
		}
		if s.Exists() {
			out[s.Name] = s
		}
	}
	return out, nil
}

// Apply UPSERTs each change's RRset, after a re-read that finds it as Before, and waits for INSYNC.
func (p *Route53) Apply(ctx context.Context, changes []Change) error {
	for _, c := range changes {
		cur, err := p.read(ctx, c.After.Name)
		if err != nil {
			return err
		}
		if !cur.Equal(c.Before) {
			return &ConflictError{Name: c.After.Name, Detail: "expected " + c.Before.String() + ", a re-read holds " + cur.String()}
		}
		rs := &types.ResourceRecordSet{Name: aws.String(c.After.Name), Type: types.RRTypeSrv, TTL: aws.Int64(int64(c.After.TTL))}
		for _, r := range c.After.Records {
			rs.ResourceRecords = append(rs.ResourceRecords, types.ResourceRecord{Value: aws.String(r.String())})
		}
		out, err := p.API.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
			HostedZoneId: p.zoneID(),
			ChangeBatch: &types.ChangeBatch{
				Comment: aws.String("srvhealth sync"),
				Changes: []types.Change{{Action: types.ChangeActionUpsert, ResourceRecordSet: rs}},
			},
		})
		if err != nil {
			return err
		}
		if err := p.waitInSync(ctx, out.ChangeInfo); err != nil {
			return err
		}
	}
	return nil
}

// waitInSync polls GetChange until the change is INSYNC, bounded by Wait.
func (p *Route53) waitInSync(ctx context.Context, ci *types.ChangeInfo) error {
	if ci == nil || ci.Status == types.ChangeStatusInsync {
		return nil
	}
	poll, wait := p.Poll, p.Wait
	if poll <= 0 {
		poll = 5 * time.Second
	}
	if wait <= 0 {
		wait = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	id := ci.Id
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("change %s not INSYNC after %v", aws.ToString(id), wait)
		case <-time.After(poll):
		}
		out, err := p.API.GetChange(ctx, &route53.GetChangeInput{Id: id})
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("change %s not INSYNC after %v", aws.ToString(id), wait)
			}
			return err
		}
		if out.ChangeInfo != nil && out.ChangeInfo.Status == types.ChangeStatusInsync {
			return nil
		}
	}
}

// parseSRVData parses "10 60 5061 sip-node1.example.com." (an SRV record's data as Route 53 writes it).
func parseSRVData(s string) (SRV, error) {
	f := strings.Fields(s)
	if len(f) != 4 {
		return SRV{}, fmt.Errorf("%q is not SRV data (PRIORITY WEIGHT PORT TARGET)", s)
	}
	var n [3]uint16
	for i := range n {
		v, err := strconv.ParseUint(f[i], 10, 16)
		if err != nil {
			return SRV{}, fmt.Errorf("%q is not SRV data: %v", s, err)
		}
		n[i] = uint16(v)
	}
	return SRV{Priority: n[0], Weight: n[1], Port: n[2], Target: strings.ToLower(dns.Fqdn(f[3]))}, nil
}
