package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/lint"
	"github.com/srvhealth/srvhealth/policy"
	"github.com/srvhealth/srvhealth/probe"
	"github.com/srvhealth/srvhealth/zonesync"
)

// desiredSet is one SRV RRset of the zone file that sync keeps healthy.
type desiredSet struct {
	rrset  zonesync.RRset // as written, TTL lowered by --max-ttl
	domain string         // the service domain: the owner without _service._proto, no trailing dot
	method probe.Method
}

// desiredZone is what the zone file wants.
type desiredZone struct {
	origin string
	sets   []desiredSet
}

func (z *desiredZone) names() []string {
	out := make([]string, len(z.sets))
	for i, s := range z.sets {
		out[i] = s.rrset.Name
	}
	return out
}

// readDesired reads the SRV RRsets of the services srvhealth knows (and those --probe names) from the
// zone file; every other record is ignored. A file with a line that does not parse is refused: a sync
// must not act on half a file.
func readDesired(o *syncOptions) (*desiredZone, error) {
	f, err := os.Open(o.zone)
	if err != nil {
		return nil, fmt.Errorf("--zone: %v", err)
	}
	defer f.Close()
	zf, err := lint.ParseZone(f, o.origin, o.zone)
	if err != nil {
		return nil, fmt.Errorf("--zone: %v", err)
	}
	if len(zf.Problems) > 0 {
		var lines []string
		for _, p := range zf.Problems {
			lines = append(lines, p.String())
		}
		return nil, fmt.Errorf("--zone %s does not read cleanly:\n  %s", o.zone, strings.Join(lines, "\n  "))
	}
	if zf.Origin == "" || zf.Origin == "." {
		return nil, fmt.Errorf("--zone %s: no $ORIGIN; give the zone with --origin", o.zone)
	}
	z := &desiredZone{origin: zf.Origin}
	byName := map[string]int{}
	for _, r := range zf.Records {
		srv, ok := r.RR.(*dns.SRV)
		if !ok {
			continue
		}
		name := strings.ToLower(srv.Hdr.Name)
		m, ok := methodOf(name, o.probes)
		if !ok {
			continue
		}
		i, seen := byName[name]
		if !seen {
			i = len(z.sets)
			byName[name] = i
			_, domain := splitOwner(name)
			z.sets = append(z.sets, desiredSet{rrset: zonesync.RRset{Name: name, TTL: srv.Hdr.Ttl}, domain: domain, method: m})
		}
		s := &z.sets[i]
		s.rrset.TTL = min(s.rrset.TTL, srv.Hdr.Ttl)
		s.rrset.Records = append(s.rrset.Records, zonesync.SRV{Priority: srv.Priority, Weight: srv.Weight, Port: srv.Port, Target: strings.ToLower(srv.Target)})
	}
	if len(z.sets) == 0 {
		return nil, fmt.Errorf("--zone %s holds no SRV record of a service srvhealth knows (name others with --probe SERVICE=KIND)", o.zone)
	}
	for i := range z.sets {
		s := &z.sets[i]
		if o.maxTTL > 0 {
			s.rrset.TTL = min(s.rrset.TTL, uint32(o.maxTTL.Seconds()))
		}
		s.rrset = s.rrset.Normalize()
	}
	return z, nil
}

// methodOf returns the probe of the SRV owner name: --probe's kind for its service, else the service's
// natural probe if srvhealth knows the service; false for a service it does not know.
func methodOf(name string, kinds map[string]probe.Kind) (probe.Method, bool) {
	label, _ := splitOwner(name)
	if k, ok := kinds[label]; ok {
		m, err := probe.ForService(label, k)
		return m, err == nil
	}
	svc, ok := lint.ServiceOf(name)
	if !ok {
		return probe.Method{}, false
	}
	return methodFor(svc), true
}

// splitOwner splits "_sip._tcp.example.com." into "_sip._tcp." and "example.com".
func splitOwner(name string) (label, domain string) {
	i, end := dns.NextLabel(name, 0)
	if end {
		return "", ""
	}
	j, end := dns.NextLabel(name, i)
	if end {
		return name, ""
	}
	return name[:j], strings.TrimSuffix(name[j:], ".")
}

// lookupStatus is the health view sync judges by: the monitor, or a fake in tests.
type lookupStatus func(k health.Key, domain string) (health.Status, bool)

// judge returns what the RRset should hold given the health of its targets, with the verdict on each
// record: the plugin's record policy (package policy), with nothing drained. A "." target (the file says the service is
// not available) and a target outside the scope are kept as written. When every target is out, all is
// served (serve_all) or the single "." record written (unavailable).
func judge(s desiredSet, rules *policy.Rules, p policy.AllDown, inScope func(target string) bool, check lookupStatus) (zonesync.RRset, []policy.Reason, bool) {
	recs := s.rrset.Records
	reasons := make([]policy.Reason, len(recs))
	for i, r := range recs {
		if r.Target == "." || !inScope(r.Target) {
			continue
		}
		st, known := check(health.NewKey(r.Target, r.Port, s.method, s.domain), s.domain)
		reasons[i] = rules.Verdict(st, known, r.Target, r.Port)
	}
	out := zonesync.RRset{Name: s.rrset.Name, TTL: s.rrset.TTL}
	allDown := policy.Select(len(recs), func(i int) policy.Reason { return reasons[i] },
		func(i int) { out.Records = append(out.Records, recs[i]) }, p)
	if allDown && p == policy.Unavailable {
		out.Records = []zonesync.SRV{{Target: "."}} // RFC 2782: "service decidedly not available"
	}
	if len(out.Records) == 0 { // never an empty RRset: a policy that serves nothing serves all
		out.Records = slices.Clone(recs)
	}
	return out.Normalize(), reasons, allDown
}
