package lint

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
	"golang.org/x/net/publicsuffix"
)

// SRV is an SRV record and, when it comes from a zone file, where it stands there.
type SRV struct {
	*dns.SRV
	Line int // its line in the zone file; 0 for a record from the network
	// Written is the target as the zone file writes it ("sip1", "sip1.example.com."); empty for a record
	// from the network.
	Written string
}

// NAPTR is a NAPTR record and, when it comes from a zone file, where it stands there.
type NAPTR struct {
	*dns.NAPTR
	Line    int
	Written string // the replacement as written in the zone file
}

// Target is what resolving an SRV target gave.
type Target struct {
	Exists bool   // false: the name does not exist (NXDOMAIN)
	CNAME  string // the name the target is an alias for; empty when it is none
	Addrs  int    // A and AAAA records, at the end of the alias chain
	// Outside marks an alias chain that leaves the data it was resolved in (a zone file): Addrs says
	// nothing, so no-address does not fire.
	Outside bool
}

// Domain is what is known of a service domain's records: from a zone file, or from its authoritative
// servers.
type Domain struct {
	// Name is the domain the check is about ("example.com."), in lower case.
	Name string
	// Zones are the zones the records come from, for the doubled-origin and missing-dot rules.
	Zones []string
	// SRV holds the SRV records, at the service labels of Name and wherever a NAPTR record points.
	SRV   []SRV
	NAPTR []NAPTR
	// Targets is what resolving each SRV target gave, keyed by the target in lower case. A target that
	// is not in it was not resolved (outside a zone file): the cname-target and no-address rules say
	// nothing about it.
	Targets map[string]Target
	// Looked reports whether the SRV records of a name were looked up, so that having none means
	// something; nil means every name was.
	Looked func(name string) bool
}

// TTLLong is the TTL above which ttl-long fires: a cache keeps a record for its TTL whatever becomes of
// the target, and failover needs minutes, not hours.
const TTLLong = 3600

// Check applies the record rules to d and returns what they found, in no particular order.
func (d *Domain) Check() []Finding {
	var fs []Finding
	owners, sets := groupSRV(d.SRV)
	service := false
	labels := map[string]map[string]bool{} // service domain -> labels present, for the sibling rules
	for _, owner := range owners {
		set := sets[owner]
		svc, ok := ServiceOf(owner)
		if ok {
			service = true
			label, dom := splitLabel(owner)
			if labels[dom] == nil {
				labels[dom] = map[string]bool{}
			}
			if hasTarget(set) {
				labels[dom][label] = true
			} else {
				labels[dom][label+"."] = true // only ".": the service is said to be unavailable
			}
		}
		fs = append(fs, d.checkSet(owner, svc, ok, set)...)
	}
	fs = append(fs, siblings(labels)...)
	if !service {
		fs = append(fs, newFinding(CodeNoSRV, d.Name,
			"no SIP or XMPP SRV record: clients fall back to the A/AAAA records of %s, or find nothing", d.Name))
	}
	fs = append(fs, d.checkNAPTR(sets)...)
	return fs
}

// groupSRV groups records by owner (in lower case), the owners in sorted order.
func groupSRV(rrs []SRV) ([]string, map[string][]SRV) {
	sets := map[string][]SRV{}
	for _, r := range rrs {
		o := strings.ToLower(r.Hdr.Name)
		sets[o] = append(sets[o], r)
	}
	owners := make([]string, 0, len(sets))
	for o := range sets {
		owners = append(owners, o)
	}
	slices.Sort(owners)
	return owners, sets
}

func hasTarget(set []SRV) bool {
	return slices.ContainsFunc(set, func(r SRV) bool { return r.Target != "." })
}

// checkSet applies the rules about one owner's records.
func (d *Domain) checkSet(owner string, svc Service, isService bool, set []SRV) []Finding {
	var fs []Finding
	dots := 0
	for _, r := range set {
		if r.Target == "." {
			dots++
		}
	}
	switch {
	case dots > 0 && dots == len(set):
		fs = append(fs, newFinding(CodeDotTarget, owner,
			`the target "." says the service is decidedly not available here (RFC 2782); clients give up without trying the bare domain`).onLine(set[0].Line))
		return fs
	case dots > 0:
		fs = append(fs, newFinding(CodeDotTargetMixed, owner,
			`a "." target (service not available) stands beside %d other records; remove the "." record or the others`, len(set)-dots).onLine(firstLine(set, ".")))
	}

	seen := map[string]bool{}
	var ttl uint32
	ttlLine := 0
	mixed := false
	for _, r := range set {
		if r.Hdr.Ttl > ttl {
			ttl, ttlLine = r.Hdr.Ttl, r.Line
		}
		if r.Hdr.Ttl != set[0].Hdr.Ttl && !mixed {
			mixed = true
			fs = append(fs, newFinding(CodeTTLMixed, owner,
				"TTLs %d and %d in one RRset: RFC 2181 section 5.2 forbids it and caches may keep the lowest; give every record one TTL", set[0].Hdr.Ttl, r.Hdr.Ttl).onLine(r.Line))
		}
		if r.Target == "." {
			continue
		}
		target := strings.ToLower(r.Target)
		if r.Port == 0 {
			fs = append(fs, newFinding(CodePortZero, owner,
				"port 0 for target %s: no client can connect to it; give the service's port, or the target \".\" alone to say there is no service", target).on(target).onLine(r.Line))
		}
		if isService {
			if other, bad := portMismatch(svc, r.Port); bad {
				fs = append(fs, newFinding(CodePortMismatch, owner,
					"port %d is the port of %s, not of %s (usually %d)", r.Port, other, strings.TrimSuffix(svc.Label, "."), svc.Port).on(target).onLine(r.Line))
			}
		}
		if seen[target] {
			continue // the target rules once per target, whatever its ports
		}
		seen[target] = true
		fs = append(fs, d.checkName(owner, target, r.Written, r.Line)...)
		if f, bad := hostFinding(owner, target, r.Written); bad {
			fs = append(fs, f.onLine(r.Line))
			continue // no address under such a name is the same mistake, said once
		}
		t, resolved := d.Targets[target]
		switch {
		case !resolved:
		case !t.Exists:
			fs = append(fs, newFinding(CodeNoAddress, owner, "target %s does not exist (NXDOMAIN)", target).on(target).onLine(r.Line))
		default:
			if t.CNAME != "" {
				fs = append(fs, newFinding(CodeCNAMETarget, owner,
					"target %s is an alias for %s; RFC 2782 forbids aliases as SRV targets: point the record at %s", target, t.CNAME, t.CNAME).on(target).onLine(r.Line))
			}
			if t.Addrs == 0 && !t.Outside {
				fs = append(fs, newFinding(CodeNoAddress, owner, "target %s has no A or AAAA record", target).on(target).onLine(r.Line))
			}
		}
	}
	if ttl > TTLLong {
		fs = append(fs, newFinding(CodeTTLLong, owner,
			"TTL %d s: caches keep a dead target that long; failover needs minutes (300 or less)", ttl).onLine(ttlLine))
	}
	if !isService {
		return fs
	}
	if svc.Legacy {
		fs = append(fs, newFinding(CodeLegacyJabber, owner,
			"_jabber._tcp is obsolete; publish _xmpp-server._tcp (and _xmpp-client._tcp) instead").onLine(set[0].Line))
	}
	if len(seen) == 1 {
		fs = append(fs, newFinding(CodeSingleTarget, owner, "a single target (%s): when it is down, clients have nowhere else to go",
			strings.ToLower(set[slices.IndexFunc(set, func(r SRV) bool { return r.Target != "." })].Target)).onLine(set[0].Line))
	}
	byPrio := map[uint16][]SRV{}
	var prios []uint16
	for _, r := range set {
		if r.Target == "." {
			continue
		}
		if byPrio[r.Priority] == nil {
			prios = append(prios, r.Priority)
		}
		byPrio[r.Priority] = append(byPrio[r.Priority], r)
	}
	slices.Sort(prios)
	for _, p := range prios {
		rs := byPrio[p]
		if len(rs) > 1 && !slices.ContainsFunc(rs, func(r SRV) bool { return r.Weight > 0 }) {
			fs = append(fs, newFinding(CodeZeroWeights, owner,
				"all %d records of priority %d have weight 0: clients pick among them uniformly at random; give weights to share load deliberately", len(rs), p).onLine(rs[0].Line))
		}
	}
	return fs
}

// hostFinding judges whether an SRV target can be a host name at all: an IP address written as a name
// (192.0.2.1. or, without its dot, 192.0.2.1.example.com.), or a name with an underscore label, which is a
// service name (_sip._udp.example.com.) and never a host's.
func hostFinding(owner, target, written string) (Finding, bool) {
	w := strings.TrimSuffix(written, ".")
	if _, err := netip.ParseAddr(w); err == nil && w != "" {
		return newFinding(CodeIPTarget, owner,
			"target written %s is an IP address; RFC 2782 wants a host name: add an A or AAAA record for a name and point the record at it", written).on(target), true
	}
	if labels := dns.SplitDomainName(target); len(labels) >= 4 {
		if a, err := netip.ParseAddr(strings.Join(labels[:4], ".")); err == nil && a.Is4() {
			return newFinding(CodeIPTarget, owner,
				"target %s starts with an IP address; RFC 2782 wants a host name: add an A or AAAA record for a name and point the record at it", target).on(target), true
		}
	}
	for _, l := range dns.SplitDomainName(target) {
		if strings.HasPrefix(l, "_") {
			return newFinding(CodeUnderscoreTarget, owner,
				"target %s has the label %s: a service name, not a host; point the record at the host that serves it", target, l).on(target), true
		}
	}
	return Finding{}, false
}

// checkName applies the rules about how a target or replacement name is written: the missing trailing
// dot, seen in the zone file itself, or its result, the zone twice at the end of the name.
func (d *Domain) checkName(owner, target, written string, line int) []Finding {
	if written != "" && len(d.Zones) > 0 && missingDot(written, d.Zones[0]) {
		return []Finding{newFinding(CodeMissingDot, owner,
			"target written %q without a trailing dot is read as %s; write %s.", written, target, written).on(target).onLine(line)}
	}
	if DoubledOrigin(target, d.Zones) {
		return []Finding{newFinding(CodeDoubledOrigin, owner,
			"target %s ends in the zone written twice: a missing trailing dot in the zone file?", target).on(target).onLine(line)}
	}
	return nil
}

// missingDot reports whether a name written in a zone file without a trailing dot looks like it was
// meant to be absolute: it ends in the origin ("sip1.example.com" in example.com.), in the origin's top
// label ("sip1.example.org" in example.com.), or in another public suffix of the ICANN section of the
// Public Suffix List ("sip1.example.net" in example.com.). A relative name like "sip1" or "sip1.dc1" is fine.
func missingDot(written, origin string) bool {
	if strings.HasSuffix(written, ".") || written == "@" || origin == "." || origin == "" {
		return false
	}
	w := strings.ToLower(written)
	o := strings.TrimSuffix(strings.ToLower(origin), ".")
	if w == o || strings.HasSuffix(w, "."+o) {
		return true
	}
	i := strings.LastIndexByte(w, '.')
	if i < 0 {
		return false
	}
	if w[i+1:] == o[strings.LastIndexByte(o, '.')+1:] {
		return true
	}
	suffix, icann := publicsuffix.PublicSuffix(w)
	return icann && suffix != w
}

// siblings applies the rules about services that should come in pairs, per service domain.
func siblings(labels map[string]map[string]bool) []Finding {
	var fs []Finding
	doms := make([]string, 0, len(labels))
	for d := range labels {
		doms = append(doms, d)
	}
	slices.Sort(doms)
	has := func(l map[string]bool, label string) bool { return l[label] || l[label+"."] }
	for _, dom := range doms {
		l := labels[dom]
		// RFC 3263 section 4.1: a client that wants TLS looks up _sips._tcp. _sip._tls is an older
		// name some stacks also ask for, never instead.
		if (l["_sip._udp."] || l["_sip._tcp."]) && !has(l, "_sips._tcp.") {
			plain := "_sip._tcp." + dom
			if !l["_sip._tcp."] {
				plain = "_sip._udp." + dom
			}
			msg := "SIP without TLS: no _sips._tcp.%s, so clients that insist on TLS find nothing; publish _sips._tcp (port 5061)"
			if has(l, "_sip._tls.") {
				msg = "no _sips._tcp.%s: RFC 3263 clients look up _sips._tcp for TLS, not _sip._tls; publish _sips._tcp (port 5061) beside it"
			}
			fs = append(fs, newFinding(CodeNoTLSSibling, plain, msg, dom))
		}
		if l["_xmpp-client._tcp."] && !has(l, "_xmpp-server._tcp.") {
			fs = append(fs, newFinding(CodeNoXMPPServer, "_xmpp-client._tcp."+dom,
				"no _xmpp-server._tcp.%s: other servers fall back to %s port 5269 (RFC 6120 section 3.2.1); publish it if the domain federates", dom, dom))
		}
	}
	return fs
}

// naptrLabels maps the SIP NAPTR services of RFC 3263 section 4.1 (and RFC 7118 for WebSocket) to the
// SRV label their replacement must start with.
var naptrLabels = map[string]string{
	"sip+d2u":  "_sip._udp.",
	"sip+d2t":  "_sip._tcp.",
	"sips+d2t": "_sips._tcp.",
	"sip+d2s":  "_sip._sctp.",
	"sips+d2s": "_sips._sctp.",
	"sip+d2w":  "_sip._ws.",
	"sips+d2w": "_sips._ws.",
}

// checkNAPTR applies the rules about NAPTR records that lead to SRV names (flag "S").
func (d *Domain) checkNAPTR(sets map[string][]SRV) []Finding {
	var fs []Finding
	for _, n := range d.NAPTR {
		if !strings.EqualFold(n.Flags, "s") {
			continue
		}
		owner := strings.ToLower(n.Hdr.Name)
		repl := strings.ToLower(n.Replacement)
		fs = append(fs, d.checkName(owner, repl, n.Written, n.Line)...)
		if want, ok := naptrLabels[strings.ToLower(n.Service)]; ok {
			if got, _ := splitLabel(repl); got != want {
				fs = append(fs, newFinding(CodeNAPTRMismatch, owner,
					"NAPTR service %s points to %s; RFC 3263 expects a name starting %s", n.Service, repl, want).on(repl).onLine(n.Line))
			}
		}
		if len(sets[repl]) == 0 && (d.Looked == nil || d.Looked(repl)) {
			fs = append(fs, newFinding(CodeNAPTRNoSRV, owner,
				"NAPTR %s points to %s, which has no SRV records: clients that follow NAPTR find no server", n.Service, repl).on(repl).onLine(n.Line))
		}
	}
	return fs
}

func firstLine(set []SRV, target string) int {
	for _, r := range set {
		if r.Target == target {
			return r.Line
		}
	}
	return 0
}

// String is for test failures.
func (t Target) String() string {
	return fmt.Sprintf("{exists %v cname %q addrs %d}", t.Exists, t.CNAME, t.Addrs)
}
