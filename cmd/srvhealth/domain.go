package main

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/lint"
)

// question is a name and type to ask.
type question struct {
	name  string
	qtype uint16
}

// query is one question to one server.
type query struct {
	server string
	name   string
	qtype  uint16
	rd     bool
}

// askAll asks every query at once (at most --parallel in flight) and returns the replies in order.
func (c *dnsClient) askAll(ctx context.Context, qs []query) []reply {
	return c.askAllClass(ctx, qs, dns.ClassINET)
}

// askAllClass is askAll in class qclass.
func (c *dnsClient) askAllClass(ctx context.Context, qs []query, qclass uint16) []reply {
	out := make([]reply, len(qs))
	done := make(chan struct{})
	for i, q := range qs {
		go func() {
			out[i] = c.askClass(ctx, q.server, q.name, q.qtype, qclass, q.rd)
			done <- struct{}{}
		}()
	}
	for range qs {
		<-done
	}
	return out
}

// records returns the records of type qtype owned by name in a reply's answer section.
func records(r reply, name string, qtype uint16) []dns.RR {
	if r.err != nil || r.msg == nil {
		return nil
	}
	var out []dns.RR
	for _, rr := range r.msg.Answer {
		if rr.Header().Rrtype == qtype && strings.EqualFold(rr.Header().Name, name) {
			out = append(out, rr)
		}
	}
	return out
}

// authServer is an authoritative server and how it answered.
type authServer struct {
	nameServer
	label  string // how findings and the table name it
	serial uint32
	rtt    time.Duration
	err    string
	lame   string
	// failed holds the names it answered with an error code (SERVFAIL...) while it answered the zone's
	// SOA with authority: srvhealth's all_down servfail policy, or broken data for the name.
	failed map[string]string
}

func (s *authServer) good() bool { return s.err == "" && s.lame == "" }

// judgeName records how a server that answered the SOA answered one name: an error code there is a
// failure of that name (failed), not a lame server.
func (s *authServer) judgeName(zone, name string, r reply) {
	if !s.good() {
		return
	}
	if r.err == nil && isReferral(r.msg, zone, name) {
		return // the name is in a child zone: checkDomain follows the referral
	}
	if r.err == nil && r.msg.Rcode != dns.RcodeSuccess && r.msg.Rcode != dns.RcodeNameError {
		if s.failed == nil {
			s.failed = map[string]string{}
		}
		s.failed[strings.ToLower(name)] = dns.RcodeToString[r.msg.Rcode]
		return
	}
	s.judge(r)
}

// judge records the first problem of a reply: no answer, an error code, or an answer that is not
// authoritative (a lame server, or a resolver listed as an authoritative one).
func (s *authServer) judge(r reply) {
	if !s.good() {
		return
	}
	switch {
	case r.err != nil:
		s.err = why(r.err)
	case r.msg.Rcode != dns.RcodeSuccess && r.msg.Rcode != dns.RcodeNameError:
		s.lame = dns.RcodeToString[r.msg.Rcode]
	case !r.msg.Authoritative:
		s.lame = "without the authoritative (AA) flag"
	}
}

// checkDomain is the live check of one domain.
func (c *checker) checkDomain(ctx context.Context, domain string) (ck Check) {
	start := time.Now()
	ck = newCheck()
	name, _ := dnsName(domain)
	ck.Domain, ck.Resolver = name, c.resolver
	defer func() { ck.DurationMS = ms(time.Since(start)) }()

	zone, err := c.dns.findZone(ctx, c.resolver, name)
	if err != nil {
		ck.Error = err.Error()
		return ck
	}
	ck.Zone = zone
	nss, unroutable, err := c.dns.authServers(ctx, c.resolver, zone, c.opts.port, c.opts.family)
	for _, u := range unroutable {
		ck.Skipped = append(ck.Skipped, "authoritative server "+u+": no route from here, or left out by -4/-6")
	}
	if err != nil {
		ck.Error = err.Error()
		return ck
	}
	servers := labelServers(nss)

	qs, answers, asked := c.askAuthoritative(ctx, servers, zone, name)

	var good []*authServer
	var lintServers []lint.Server
	for _, s := range servers {
		ck.Servers = append(ck.Servers, ServerReport{Name: s.name, Address: s.addr, Role: "authoritative", Serial: s.serial,
			RTTMS: ms(s.rtt), Error: firstOf(s.err, s.lame)})
		lintServers = append(lintServers, lint.Server{Name: s.label, Address: s.addr, Err: s.err, Lame: s.lame})
		if s.good() {
			good = append(good, s)
		}
	}
	if len(good) == 0 && !slices.ContainsFunc(servers, func(s *authServer) bool { return s.err == "" }) {
		// Nothing was fetched: the check could not run (3), which may be this host's network as much as
		// the domain's servers. The servers table says how each one failed.
		var why []string
		for _, s := range servers {
			why = append(why, s.label+" "+s.err)
		}
		ck.Error = fmt.Sprintf("no authoritative server of %s answers (%s)", zone, strings.Join(why, ", "))
		return ck
	}
	ck.Findings = append(ck.Findings, lint.CheckServers(zone, lintServers)...)
	if len(good) == 0 {
		lint.Sort(ck.Findings)
		return ck // no authoritative answer to judge: the findings say why (every server lame)
	}

	// The union of what the good servers have, and where they differ.
	var srvs []lint.SRV
	var naptrs []lint.NAPTR
	for qi := 1; qi < len(qs); qi++ { // qs[0] is the SOA
		q := qs[qi]
		var per []lint.Answer
		var child *reply // the child zone's answer, for a name the servers refer
		for i, s := range servers {
			if !s.good() || s.failed[strings.ToLower(q.name)] != "" {
				continue
			}
			r := answers[i][qi]
			if r.err == nil && isReferral(r.msg, zone, q.name) {
				if child == nil {
					cr, why := c.followReferral(ctx, r.msg, q.name, q.qtype)
					if why != "" {
						ck.Skipped = append(ck.Skipped, q.name+" "+dns.TypeToString[q.qtype]+": "+why)
						delete(asked, strings.ToLower(q.name)) // unknown, not empty
					}
					child = &cr
				}
				r = *child
			}
			per = append(per, lint.Answer{Server: s.label, Serial: s.serial, Records: records(r, q.name, q.qtype)})
		}
		ck.Findings = append(ck.Findings, lint.CompareAnswers(strings.ToLower(q.name), q.qtype, per)...)
		for _, u := range union(per) {
			rec, _ := recordReport(u.rr)
			rec.On, rec.MissingOn = u.on, u.missing
			ck.Records = append(ck.Records, rec)
			switch rr := u.rr.(type) {
			case *dns.SRV:
				srvs = append(srvs, lint.SRV{SRV: rr})
			case *dns.NAPTR:
				naptrs = append(naptrs, lint.NAPTR{NAPTR: rr})
			}
		}
	}

	// SRV names that NAPTR records point to outside the zone: their own zone's servers have them, asked
	// through the resolver, so that a NAPTR to nothing there is reported too.
	for _, n := range naptrs {
		repl := strings.ToLower(n.Replacement)
		if !strings.EqualFold(n.Flags, "s") || asked[repl] || dns.IsSubDomain(zone, repl) || repl == "." {
			continue
		}
		r := c.dns.ask(ctx, c.resolver, repl, dns.TypeSRV, true)
		if r.err != nil || r.msg.Rcode != dns.RcodeSuccess && r.msg.Rcode != dns.RcodeNameError {
			got := ""
			if r.err != nil {
				got = why(r.err)
			} else {
				got = dns.RcodeToString[r.msg.Rcode]
			}
			ck.Skipped = append(ck.Skipped, "SRV "+repl+" (a NAPTR record points to it): the resolver gives "+got)
			continue
		}
		asked[repl] = true
		for _, rr := range records(r, repl, dns.TypeSRV) {
			rec, _ := recordReport(rr)
			ck.Records = append(ck.Records, rec)
			srvs = append(srvs, lint.SRV{SRV: rr.(*dns.SRV)})
		}
	}

	// What srvhealth in front of the zone left out: the status views of the servers that have one.
	hidden, ffs := c.filteredAnswers(ctx, good, qs, answers, servers, srvs)
	ck.Findings = append(ck.Findings, ffs...)
	more, zfs := c.compareTruth(zone, good, qs, answers, servers, append(slices.Clone(srvs), hidden...))
	hidden = append(hidden, more...)
	ck.Findings = append(ck.Findings, zfs...)

	targets, tfs := c.resolveTargets(ctx, zone, append(slices.Clone(srvs), hidden...), good)
	ck.Findings = append(ck.Findings, tfs...)
	lintTargets := map[string]lint.Target{}
	for _, t := range targets {
		ck.Targets = append(ck.Targets, t.report())
		if t.err == "" || t.Outside {
			lintTargets[t.name] = t.Target // Outside: the alias is known, its addresses are not
		}
	}

	if !c.opts.noProbe {
		probes, skipped := c.probeAll(ctx, name, append(slices.Clone(srvs), hidden...), targets)
		ck.Probes, ck.Skipped = probes, append(ck.Skipped, skipped...)
		ck.Findings = append(ck.Findings, probeFindings(name, probes, c.roots, c.now(), time.Duration(c.opts.certDays)*24*time.Hour)...)
		wouldServe(&ck)
	}

	if len(c.servers) > 0 {
		var names []string
		for _, q := range qs {
			if q.qtype == dns.TypeSRV {
				names = append(names, strings.ToLower(q.name))
			}
		}
		c.compareServed(ctx, &ck, names, srvs)
	}

	d := &lint.Domain{Name: name, Zones: []string{zone}, SRV: srvs, NAPTR: naptrs, Targets: lintTargets,
		Looked: func(n string) bool { return asked[strings.ToLower(n)] }}
	ck.Findings = append(ck.Findings, d.Check()...)
	lint.Sort(ck.Findings)
	return ck
}

// askAuthoritative asks every authoritative server for the zone's SOA, every SRV label of name and
// name's NAPTR records, then for the SRV names those NAPTR records point to within the zone. It judges
// each server by its answers and returns the questions, the answers per server and question, and the
// names whose SRV records were asked for.
func (c *checker) askAuthoritative(ctx context.Context, servers []*authServer, zone, name string) ([]question, [][]reply, map[string]bool) {
	// Every SRV label and the NAPTR records, from every authoritative server.
	qs := []question{{zone, dns.TypeSOA}}
	for _, s := range lint.Services() {
		qs = append(qs, question{s.Label + name, dns.TypeSRV})
	}
	qs = append(qs, question{name, dns.TypeNAPTR})
	ask := func(qs []question) [][]reply { // [server][question]
		var flat []query
		for _, s := range servers {
			for _, q := range qs {
				flat = append(flat, query{s.addr, q.name, q.qtype, false})
			}
		}
		rs := c.dns.askAll(ctx, flat)
		out := make([][]reply, len(servers))
		for i := range servers {
			out[i] = rs[i*len(qs) : (i+1)*len(qs)]
		}
		return out
	}
	answers := ask(qs)
	for i, s := range servers {
		s.judge(answers[i][0]) // the SOA: whether it serves the zone at all
		for qi, r := range answers[i][1:] {
			s.judgeName(zone, qs[qi+1].name, r)
		}
		s.rtt = answers[i][0].rtt
		if soa := records(answers[i][0], zone, dns.TypeSOA); len(soa) > 0 {
			s.serial = soa[0].(*dns.SOA).Serial
		}
	}

	// SRV names that NAPTR records point to and that are not among the labels asked already.
	asked := map[string]bool{}
	for _, q := range qs {
		asked[strings.ToLower(q.name)] = true
	}
	var more []question
	for i, s := range servers {
		if !s.good() {
			continue
		}
		for _, rr := range records(answers[i][len(qs)-1], name, dns.TypeNAPTR) {
			n := rr.(*dns.NAPTR)
			repl := strings.ToLower(n.Replacement)
			if strings.EqualFold(n.Flags, "s") && !asked[repl] && dns.IsSubDomain(zone, repl) {
				asked[repl] = true
				more = append(more, question{repl, dns.TypeSRV})
			}
		}
	}
	if len(more) > 0 {
		extra := ask(more)
		for i, s := range servers {
			for qi, r := range extra[i] {
				s.judgeName(zone, more[qi].name, r)
			}
			answers[i] = append(answers[i], extra[i]...)
		}
		qs = append(qs, more...)
	}

	return qs, answers, asked
}

// filteredAnswers asks each good server for the status view (CH TXT) of every SRV name asked. A server
// that answers with targets runs srvhealth in front of the zone: its SRV answers are what its probes let
// through. It returns, for probing, the targets a status lists that no answer carried (as SRV records of
// port and target only), and the findings: ns-filtered for what such a server left out or failed, and
// name-servfail for a name a server without a status view failed.
func (c *checker) filteredAnswers(ctx context.Context, good []*authServer, qs []question, answers [][]reply, servers []*authServer, srvs []lint.SRV) ([]lint.SRV, []lint.Finding) {
	var names []int // indexes into qs of the SRV questions
	for qi, q := range qs {
		if q.qtype == dns.TypeSRV {
			names = append(names, qi)
		}
	}
	var flat []query
	for _, s := range good {
		for _, qi := range names {
			flat = append(flat, query{s.addr, qs[qi].name, dns.TypeTXT, false})
		}
	}
	views := c.dns.askAllClass(ctx, flat, dns.ClassCHAOS)
	served := map[string]bool{} // "owner target:port" of every record any server has
	for _, r := range srvs {
		served[strings.ToLower(r.Hdr.Name)+" "+strings.ToLower(r.Target)+":"+strconv.Itoa(int(r.Port))] = true
	}
	var hidden []lint.SRV
	var fs []lint.Finding
	for gi, s := range good {
		si := slices.Index(servers, s)
		for k, qi := range names {
			name := strings.ToLower(qs[qi].name)
			v := views[gi*len(names)+k]
			var status []TargetStatus
			if v.err == nil && v.msg.Rcode == dns.RcodeSuccess {
				status, _ = statusTargets(v.msg.Answer)
			}
			rcode := s.failed[name]
			if len(status) == 0 {
				if rcode != "" {
					fs = append(fs, lint.CheckNameServfail(s.label, s.addr, name, rcode)...)
				}
				continue
			}
			got := map[string]bool{}
			for _, rr := range records(answers[si][qi], name, dns.TypeSRV) {
				srv := rr.(*dns.SRV)
				got[strings.ToLower(srv.Target)+":"+strconv.Itoa(int(srv.Port))] = true
			}
			f := lint.Filtered{Server: s.label, Address: s.addr, Name: name, Rcode: rcode, Listed: len(status)}
			for _, t := range status {
				tp := strings.ToLower(dns.Fqdn(t.Target)) + ":" + strconv.Itoa(t.Port)
				if t.State == "down" || t.State == "drained" {
					f.Down++
				}
				if got[tp] {
					continue
				}
				f.LeftOut = append(f.LeftOut, tp+" ("+t.State+")")
				if !served[name+" "+tp] && t.Port > 0 && t.Port < 65536 {
					served[name+" "+tp] = true
					hidden = append(hidden, lint.SRV{SRV: &dns.SRV{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeSRV, Class: dns.ClassINET},
						Port: uint16(t.Port), Target: strings.ToLower(dns.Fqdn(t.Target))}})
				}
			}
			fs = append(fs, lint.CheckFiltered(f)...)
		}
	}
	return hidden, fs
}

// compareTruth compares what each good server served for every SRV name asked with the zone file given
// for the zone (--zone), if any: a record of the file a server does not serve is zone-not-served, and
// returned for probing when no server served it (have: the records already known).
func (c *checker) compareTruth(zone string, good []*authServer, qs []question, answers [][]reply, servers []*authServer, have []lint.SRV) ([]lint.SRV, []lint.Finding) {
	truth, ok := c.truth[zone]
	if !ok {
		return nil, nil
	}
	known := map[string]bool{}
	for _, r := range have {
		known[lint.RecordKey(r.SRV)] = true
	}
	var more []lint.SRV
	var fs []lint.Finding
	for qi, q := range qs {
		name := strings.ToLower(q.name)
		want := truth.srv[name]
		if q.qtype != dns.TypeSRV || len(want) == 0 {
			continue
		}
		for _, s := range good {
			var got []*dns.SRV
			if r := answers[slices.Index(servers, s)][qi]; r.err == nil && !isReferral(r.msg, zone, name) {
				for _, rr := range records(r, name, dns.TypeSRV) {
					got = append(got, rr.(*dns.SRV))
				}
			} else {
				continue // a child zone's records: not this file's
			}
			fs = append(fs, lint.CheckZoneServed(truth.file, s.label, s.addr, name, want, got)...)
		}
		for _, w := range want {
			if k := lint.RecordKey(w); !known[k] {
				known[k] = true
				more = append(more, lint.SRV{SRV: w})
			}
		}
	}
	return more, fs
}

// labelServers names each server address for findings and the table: its name, and its address too
// when the name has several.
func labelServers(nss []nameServer) []*authServer {
	count := map[string]int{}
	for _, ns := range nss {
		count[ns.name]++
	}
	out := make([]*authServer, len(nss))
	for i, ns := range nss {
		out[i] = &authServer{nameServer: ns, label: ns.name}
		if count[ns.name] > 1 {
			out[i].label = ns.String()
		}
	}
	return out
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// unioned is a record and the servers that have it.
type unioned struct {
	rr          dns.RR
	on, missing []string
}

// union returns every record any server has, in the order first seen, with the servers that have it and
// those that do not.
func union(per []lint.Answer) []unioned {
	var out []unioned
	index := map[string]int{}
	for _, a := range per {
		for _, rr := range a.Records {
			k := lint.RecordKey(rr)
			i, ok := index[k]
			if !ok {
				i = len(out)
				index[k] = i
				out = append(out, unioned{rr: rr})
			}
			if !slices.Contains(out[i].on, a.Server) {
				out[i].on = append(out[i].on, a.Server)
			}
		}
	}
	for i := range out {
		for _, a := range per {
			if !slices.Contains(out[i].on, a.Server) {
				out[i].missing = append(out[i].missing, a.Server)
			}
		}
	}
	return out
}

// recordReport describes an SRV or NAPTR record; other types are not reported.
func recordReport(rr dns.RR) (RecordReport, bool) {
	h := rr.Header()
	rec := RecordReport{Name: strings.ToLower(h.Name), Type: dns.TypeToString[h.Rrtype], TTL: h.Ttl}
	switch rr := rr.(type) {
	case *dns.SRV:
		rec.SRV = &SRVField{Priority: rr.Priority, Weight: rr.Weight, Port: rr.Port, Target: strings.ToLower(rr.Target)}
	case *dns.NAPTR:
	default:
		return rec, false
	}
	rec.Data = strings.TrimPrefix(rr.String(), h.String())
	return rec, true
}

// target is what resolving an SRV target gave.
type target struct {
	lint.Target
	name  string
	addrs []netip.Addr
	err   string
}

func (t target) report() TargetReport {
	r := TargetReport{Name: t.name, Exists: t.Exists, CNAME: t.CNAME, Addresses: []string{}, Error: t.err}
	for _, a := range t.addrs {
		r.Addresses = append(r.Addresses, a.String())
	}
	return r
}

// resolveTargets resolves every SRV target: a target in the zone at every good authoritative server
// (whose answers are compared like the SRV records), any other through the resolver. An alias that
// leads out of the zone is followed through the resolver.
func (c *checker) resolveTargets(ctx context.Context, zone string, srvs []lint.SRV, good []*authServer) ([]target, []lint.Finding) {
	var names []string
	for _, s := range srvs {
		t := strings.ToLower(s.Target)
		if t != "." && !slices.Contains(names, t) {
			names = append(names, t)
		}
	}
	var qs []query
	for _, n := range names {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
			if dns.IsSubDomain(zone, n) {
				for _, s := range good {
					qs = append(qs, query{s.addr, n, qt, false})
				}
			} else {
				qs = append(qs, query{c.resolver, n, qt, true})
			}
		}
	}
	rs := c.dns.askAll(ctx, qs)
	var out []target
	var fs []lint.Finding
	var chase []int // targets whose alias leaves the zone
	referred := map[int]*dns.Msg{}
	i := 0
	for _, n := range names {
		t := target{name: n}
		nx := true
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
			var per []lint.Answer
			k := 1
			if dns.IsSubDomain(zone, n) {
				k = len(good)
			}
			for j := range k {
				r := rs[i+j]
				if r.err != nil {
					t.err = firstOf(t.err, why(r.err))
					continue
				}
				if dns.IsSubDomain(zone, n) && isReferral(r.msg, zone, n) {
					// The name is in a child zone the parent delegates: its servers have the answer.
					referred[len(out)] = r.msg
					nx = false
					continue
				}
				switch r.msg.Rcode {
				case dns.RcodeSuccess:
					nx = false
				case dns.RcodeNameError:
				default:
					t.err = firstOf(t.err, dns.RcodeToString[r.msg.Rcode])
					continue
				}
				var recs []dns.RR
				for _, rr := range r.msg.Answer {
					recs = append(recs, rr)
					if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, n) && t.CNAME == "" {
						t.CNAME = strings.ToLower(cn.Target)
					}
					if a := addrOf(rr); a.IsValid() && !slices.Contains(t.addrs, a) {
						t.addrs = append(t.addrs, a)
					}
				}
				if k > 1 {
					per = append(per, lint.Answer{Server: good[j].label, Serial: good[j].serial, Records: recs})
				}
			}
			fs = append(fs, lint.CompareAnswers(n, qt, per)...)
			i += k
		}
		t.Exists = !nx
		if t.CNAME != "" && len(t.addrs) == 0 && dns.IsSubDomain(zone, n) && !dns.IsSubDomain(zone, t.CNAME) {
			chase = append(chase, len(out))
		}
		out = append(out, t)
	}
	for k, ref := range referred {
		out[k] = c.resolveDelegated(ctx, ref, out[k].name)
		if out[k].CNAME != "" && len(out[k].addrs) == 0 {
			chase = append(chase, k)
		}
	}
	for _, k := range chase {
		var err string
		out[k].addrs, err = c.dns.resolveAddresses(ctx, c.resolver, out[k].CNAME)
		if len(out[k].addrs) == 0 && err != "" && out[k].err == "" {
			// The resolver would not say: unresolved, not without an address; still an alias.
			out[k].err = "alias " + out[k].CNAME + ": resolver gives " + err
			out[k].Outside = true
		}
	}
	for k := range out {
		slices.SortFunc(out[k].addrs, netip.Addr.Compare)
		out[k].Addrs = len(out[k].addrs)
	}
	return out, fs
}

// isReferral reports whether m is a referral for name to a child zone of zone: no answer, not
// authoritative, and NS records in the authority section for a zone below zone that holds name.
func isReferral(m *dns.Msg, zone, name string) bool {
	if m.Rcode != dns.RcodeSuccess || m.Authoritative || len(m.Answer) > 0 {
		return false
	}
	for _, rr := range m.Ns {
		if ns, ok := rr.(*dns.NS); ok {
			cut := strings.ToLower(ns.Hdr.Name)
			if cut != zone && dns.IsSubDomain(zone, cut) && dns.IsSubDomain(cut, name) {
				return true
			}
		}
	}
	return false
}

// followReferral asks name/qtype the way a resolver follows a referral (RFC 1034 section 4.3.2): of the
// child zone's servers (their glue, or their names through the resolver, on --port), without recursion,
// the first that answers, through further referrals, at most 4 in all. It returns the child's answer, or
// why there is none.
func (c *checker) followReferral(ctx context.Context, ref *dns.Msg, name string, qtype uint16) (reply, string) {
	for range 4 {
		var servers []string
		var cut string
		glue := map[string][]netip.Addr{}
		for _, rr := range ref.Extra {
			if a := addrOf(rr); a.IsValid() {
				glue[strings.ToLower(rr.Header().Name)] = append(glue[strings.ToLower(rr.Header().Name)], a)
			}
		}
		for _, rr := range ref.Ns {
			ns, ok := rr.(*dns.NS)
			if !ok {
				continue
			}
			cut = strings.ToLower(ns.Hdr.Name)
			addrs := glue[strings.ToLower(ns.Ns)]
			if len(addrs) == 0 {
				addrs = c.dns.addresses(ctx, c.resolver, ns.Ns)
			}
			for _, a := range addrs {
				if c.opts.family.allows(a) {
					servers = append(servers, netip.AddrPortFrom(a, uint16(c.opts.port)).String())
				}
			}
		}
		if len(servers) == 0 {
			return reply{}, "no server of the delegated zone " + cut + " can be reached"
		}
		var r reply
		for _, s := range servers { // the first that answers, as a resolver moves on
			if r = c.dns.ask(ctx, s, name, qtype, false); r.err == nil {
				break
			}
		}
		switch {
		case r.err != nil:
			return r, "delegated zone " + cut + ": " + why(r.err)
		case isReferral(r.msg, cut, name):
			ref = r.msg
			continue
		case r.msg.Rcode != dns.RcodeSuccess && r.msg.Rcode != dns.RcodeNameError:
			return r, "delegated zone " + cut + ": " + dns.RcodeToString[r.msg.Rcode]
		}
		return r, ""
	}
	return reply{}, "more than 4 referrals"
}

// resolveDelegated resolves a target in a child zone by following the parent's referral.
func (c *checker) resolveDelegated(ctx context.Context, ref *dns.Msg, name string) target {
	t := target{name: name}
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		r, err := c.followReferral(ctx, ref, name, qt)
		if err != "" {
			t.err = firstOf(t.err, err)
			continue
		}
		t.Exists = t.Exists || r.msg.Rcode == dns.RcodeSuccess
		for _, rr := range r.msg.Answer {
			if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, name) && t.CNAME == "" {
				t.CNAME = strings.ToLower(cn.Target)
			}
			if a := addrOf(rr); a.IsValid() && !slices.Contains(t.addrs, a) {
				t.addrs = append(t.addrs, a)
			}
		}
	}
	return t
}

// compareServed asks each --server for the SRV names and compares what it served with the
// authoritative records and the probes. A server that does not answer makes the check incomplete.
func (c *checker) compareServed(ctx context.Context, ck *Check, names []string, srvs []lint.SRV) {
	up := map[string]bool{}
	for _, p := range ck.Probes {
		k := p.Target + ":" + strconv.Itoa(int(p.Port))
		up[k] = up[k] || p.Up
	}
	var qs []query
	for _, s := range c.servers {
		for _, n := range names {
			qs = append(qs, query{s, n, dns.TypeSRV, true})
		}
	}
	rs := c.dns.askAll(ctx, qs)
	stale := map[string]int{} // record key -> index in ck.Records
	for si, s := range c.servers {
		rep := ServerReport{Name: s, Address: s, Role: "given"}
		for ni, n := range names {
			r := rs[si*len(names)+ni]
			if r.err != nil {
				rep.Error = why(r.err)
				continue
			}
			rep.RTTMS = max(rep.RTTMS, ms(r.rtt))
			var got, auth []*dns.SRV
			for _, rr := range records(r, n, dns.TypeSRV) {
				got = append(got, rr.(*dns.SRV))
			}
			for _, a := range srvs {
				if strings.EqualFold(a.Hdr.Name, n) {
					auth = append(auth, a.SRV)
				}
			}
			ck.Findings = append(ck.Findings, lint.CompareServed(lint.Served{Server: s, Name: n, Auth: auth, Got: got, Up: up})...)
			servedKeys := map[string]bool{}
			for _, g := range got {
				servedKeys[lint.RecordKey(g)] = true
			}
			for i := range ck.Records {
				rec := &ck.Records[i]
				if rec.Name != n || rec.Type != "SRV" || len(rec.On) == 0 {
					continue
				}
				if rec.Served == nil {
					rec.Served = map[string]bool{}
				}
				rec.Served[s] = servedKeys[recordKeyOf(rec)]
			}
			for _, g := range got {
				k := lint.RecordKey(g)
				if slices.ContainsFunc(auth, func(a *dns.SRV) bool { return lint.RecordKey(a) == k }) {
					continue
				}
				i, ok := stale[k]
				if !ok {
					rec, _ := recordReport(g)
					rec.Served = map[string]bool{}
					i = len(ck.Records)
					stale[k] = i
					ck.Records = append(ck.Records, rec)
				}
				ck.Records[i].Served[s] = true
			}
		}
		if rep.Error != "" {
			ck.Error = firstOf(ck.Error, "--server "+s+" does not answer: "+rep.Error)
		}
		ck.Servers = append(ck.Servers, rep)
	}
}

// recordKeyOf is lint.RecordKey of a reported SRV record.
func recordKeyOf(rec *RecordReport) string {
	rr, err := dns.NewRR(rec.Name + " 0 IN " + rec.Type + " " + rec.Data)
	if err != nil {
		return ""
	}
	return lint.RecordKey(rr)
}
