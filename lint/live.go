package lint

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// The rules in this file judge what a live check saw: the answers of the authoritative servers and of
// a server given with --server, and the probes of the targets.

// Server is how an authoritative server answered.
type Server struct {
	Name    string // "ns1.example.com."
	Address string // "192.0.2.1:53"
	// Err says why it gave no usable answer ("timeout", "connection refused"); empty when it did.
	Err string
	// Lame says why an answer was not authoritative ("not authoritative", "REFUSED", "SERVFAIL").
	Lame string
}

// CheckServers judges how each authoritative server of zone answered.
func CheckServers(zone string, servers []Server) []Finding {
	var fs []Finding
	for _, s := range servers {
		switch {
		case s.Err != "":
			fs = append(fs, newFinding(CodeNSUnreachable, zone,
				"authoritative server %s does not answer (%s): resolvers that ask it wait, then try another", s.Name, s.Err).at(s.Address))
		case s.Lame != "":
			fs = append(fs, newFinding(CodeNSLame, zone,
				"server %s is listed as authoritative but answers %s: fix the delegation or the server", s.Name, s.Lame).at(s.Address))
		}
	}
	return fs
}

// Filtered is what an authoritative server with srvhealth in front of its zone served for one SRV name,
// next to what its status view lists there.
type Filtered struct {
	Server  string // "ns1.example.com."
	Address string
	Name    string // the SRV name
	// Rcode is the error code it answered with ("SERVFAIL" for the all_down servfail policy); empty for
	// an answer with records or without.
	Rcode string
	// LeftOut are the targets the status lists and the answer did not carry, "target:port (state)".
	LeftOut []string
	// Listed is how many targets the status lists; Down how many of them are down or drained.
	Listed, Down int
}

// CheckFiltered judges an answer srvhealth filtered: an info that says what was left out and why, so that
// neither a short answer passes for the zone nor a deliberate all-down answer for a broken server.
func CheckFiltered(f Filtered) []Finding {
	if len(f.LeftOut) == 0 && f.Rcode == "" {
		return nil
	}
	msg := fmt.Sprintf("server %s runs srvhealth in front of the zone (its status answers): ", f.Server)
	switch {
	case f.Rcode != "" && f.Listed > 0 && f.Down == f.Listed:
		msg += fmt.Sprintf("it answers %s because every target is down (%s): srvhealth's all_down policy, not a broken server", f.Rcode, strings.Join(f.LeftOut, ", "))
	case f.Rcode != "":
		msg += fmt.Sprintf("it answers %s although its status lists %d targets, %d down (%s)", f.Rcode, f.Listed, f.Down, strings.Join(f.LeftOut, ", "))
	default:
		msg += fmt.Sprintf("its answer leaves out %d of %d targets (%s); they are probed here all the same", len(f.LeftOut), f.Listed, strings.Join(f.LeftOut, ", "))
	}
	return []Finding{newFinding(CodeNSFiltered, f.Name, "%s", msg).at(f.Address)}
}

// CheckNameServfail judges an error code for one name from a server that answers the zone's SOA with
// authority: not a lame server, but no answer for clients there.
func CheckNameServfail(server, address, name, rcode string) []Finding {
	return []Finding{newFinding(CodeNameServfail, name,
		"server %s answers %s for %s while it serves the zone: clients get no answer. With srvhealth in front of the zone that is its all_down servfail policy (every target down: srvhealth status tells); otherwise the zone's data for the name is broken", server, rcode, name).at(address)}
}

// CheckZoneServed judges an authoritative server's answer for name against the records of the zone file
// given as the truth: each record of the file (key: "priority weight port target") the answer does not
// carry is a finding, with what may cause it.
func CheckZoneServed(file, server, address, name string, fileRecords, served []*dns.SRV) []Finding {
	key := func(r *dns.SRV) string {
		return fmt.Sprintf("%d %d %d %s", r.Priority, r.Weight, r.Port, strings.ToLower(r.Target))
	}
	got := map[string]bool{}
	for _, r := range served {
		got[key(r)] = true
	}
	var fs []Finding
	for _, r := range fileRecords {
		if !got[key(r)] {
			fs = append(fs, newFinding(CodeZoneNotServed, name,
				"%s has %q, which server %s does not serve: srvhealth in front of the zone leaving out a target it finds down (probed here all the same), or the file not deployed there yet", file, key(r), server).on(strings.ToLower(r.Target)).at(address))
		}
	}
	return fs
}

// Answer is what one authoritative server answered to one question.
type Answer struct {
	Server  string // "ns1.example.com. (192.0.2.1:53)"
	Serial  uint32 // the serial of its copy of the zone; 0 when unknown
	Records []dns.RR
}

// CompareAnswers judges whether the authoritative servers gave the same answer to the question
// name/qtype. Records are compared without their TTLs, and their order does not matter.
func CompareAnswers(name string, qtype uint16, answers []Answer) []Finding {
	if len(answers) < 2 {
		return nil
	}
	on := map[string][]string{} // record -> servers that have it
	var all []string
	for _, a := range answers {
		for _, rr := range a.Records {
			k := RecordKey(rr)
			if on[k] == nil {
				all = append(all, k)
			}
			if !slices.Contains(on[k], a.Server) {
				on[k] = append(on[k], a.Server)
			}
		}
	}
	var diffs []string
	for _, k := range all {
		if len(on[k]) == len(answers) {
			continue
		}
		var missing []string
		for _, a := range answers {
			if !slices.Contains(on[k], a.Server) {
				missing = append(missing, a.Server)
			}
		}
		diffs = append(diffs, fmt.Sprintf("%q is on %s but not on %s", k, strings.Join(on[k], ", "), strings.Join(missing, ", ")))
	}
	if len(diffs) == 0 {
		return nil
	}
	var serials []string
	for _, a := range answers {
		if a.Serial != 0 {
			serials = append(serials, a.Server+" "+strconv.FormatUint(uint64(a.Serial), 10))
		}
	}
	msg := "authoritative servers disagree on " + dns.TypeToString[qtype] + ": " + strings.Join(diffs, "; ")
	if len(serials) > 0 {
		msg += " (serials: " + strings.Join(serials, ", ") + ")"
	}
	return []Finding{newFinding(CodeNSDisagree, name, "%s", msg)}
}

// RecordKey is a record as a zone-file line without its TTL, to compare records from different servers.
func RecordKey(rr dns.RR) string {
	c := dns.Copy(rr)
	c.Header().Ttl = 0
	c.Header().Name = strings.ToLower(c.Header().Name)
	if s, ok := c.(*dns.SRV); ok {
		s.Target = strings.ToLower(s.Target)
	}
	f := strings.Fields(c.String())
	// name, TTL, class, type, data...: drop the TTL.
	if len(f) > 2 {
		f = append(f[:1], f[2:]...)
	}
	return strings.Join(f, " ")
}

// Served is what a server given with --server answered for one SRV name, next to what the
// authoritative servers have there and what the probes found.
type Served struct {
	Server string // "127.0.0.1:53"
	Name   string
	Auth   []*dns.SRV // every record any authoritative server has
	Got    []*dns.SRV // what the server served
	// Up says, per "target:port" in lower case, whether some address of it answered the probe; a
	// target that was not probed is not in it.
	Up map[string]bool
}

// CompareServed judges what a server (a CoreDNS running srvhealth, a resolver) served against the
// authoritative records and the probes: left out a live target, served a dead one, or served a record
// that is nowhere on the authoritative servers.
func CompareServed(s Served) []Finding {
	var fs []Finding
	key := func(r *dns.SRV) string {
		return fmt.Sprintf("%d %d %d %s", r.Priority, r.Weight, r.Port, strings.ToLower(r.Target))
	}
	auth := map[string]bool{}
	for _, r := range s.Auth {
		auth[key(r)] = true
	}
	got := map[string]bool{}
	for _, r := range s.Got {
		got[key(r)] = true
		tp := strings.ToLower(r.Target) + ":" + strconv.Itoa(int(r.Port))
		switch {
		case r.Target == ".":
			// srvhealth's all_down unavailable policy, or the zone's own "."; the probes say the rest.
		case !auth[key(r)]:
			fs = append(fs, newFinding(CodeServerStale, s.Name,
				"server %s serves %q, which no authoritative server has: a stale cache or another zone", s.Server, key(r)).on(strings.ToLower(r.Target)).at(s.Server))
		case !s.upOr(tp, true):
			fs = append(fs, newFinding(CodeServerKeptDown, s.Name,
				"server %s serves %s port %d, which did not answer our probe", s.Server, strings.ToLower(r.Target), r.Port).on(strings.ToLower(r.Target)).at(s.Server))
		}
	}
	for _, r := range s.Auth {
		tp := strings.ToLower(r.Target) + ":" + strconv.Itoa(int(r.Port))
		if !got[key(r)] && s.upOr(tp, false) {
			fs = append(fs, newFinding(CodeServerDropUp, s.Name,
				"server %s leaves out %s port %d, which answered our probe", s.Server, strings.ToLower(r.Target), r.Port).on(strings.ToLower(r.Target)).at(s.Server))
		}
	}
	return fs
}

func (s Served) upOr(tp string, unknown bool) bool {
	up, ok := s.Up[tp]
	if !ok {
		return unknown
	}
	return up
}

// Probe is the outcome of probing one address of an SRV target.
type Probe struct {
	Name   string // the SRV owner, "_sip._udp.example.com."
	Target string
	Port   uint16
	Addr   netip.Addr
	Up     bool
	Reason string
}

// CheckProbes judges the probes of a domain's targets: a target none of whose addresses answers, an
// address family that is published but dead, a single dead address, a service none of whose targets
// answers.
func CheckProbes(ps []Probe) []Finding {
	type tkey struct {
		name, target string
		port         uint16
	}
	var order []tkey
	byTarget := map[tkey][]Probe{}
	for _, p := range ps {
		k := tkey{strings.ToLower(p.Name), strings.ToLower(p.Target), p.Port}
		if byTarget[k] == nil {
			order = append(order, k)
		}
		byTarget[k] = append(byTarget[k], p)
	}
	var fs []Finding
	serviceUp := map[string]bool{}
	var services []string
	for _, k := range order {
		probes := byTarget[k]
		if _, seen := serviceUp[k.name]; !seen {
			services = append(services, k.name)
			serviceUp[k.name] = false
		}
		var up, down4, down6, all4, all6 int
		for _, p := range probes {
			switch {
			case p.Up:
				up++
			case p.Addr.Is4() || p.Addr.Is4In6():
				down4++
			default:
				down6++
			}
			if p.Addr.Is4() || p.Addr.Is4In6() {
				all4++
			} else {
				all6++
			}
		}
		if up > 0 {
			serviceUp[k.name] = true
		}
		addr := func(p Probe) string {
			return netip.AddrPortFrom(p.Addr, p.Port).String()
		}
		switch {
		case up == 0:
			var why []string
			for _, p := range probes {
				why = append(why, addr(p)+": "+p.Reason)
			}
			fs = append(fs, newFinding(CodeTargetDown, k.name,
				"no address of %s answers on port %d (%s): clients that take it first fail", k.target, k.port, strings.Join(why, "; ")).on(k.target))
		case all6 > 0 && down6 == all6 || all4 > 0 && down4 == all4:
			fam, rr := "IPv6", "AAAA"
			if down4 == all4 {
				fam, rr = "IPv4", "A"
			}
			var why []string
			for _, p := range probes {
				if !p.Up {
					why = append(why, addr(p)+": "+p.Reason)
				}
			}
			fs = append(fs, newFinding(CodeFamilyDead, k.name,
				"%s publishes %s records but no %s address answers on port %d (%s): clients on %s fail, or wait before falling back",
				k.target, rr, fam, k.port, strings.Join(why, "; "), fam).on(k.target))
		default:
			for _, p := range probes {
				if !p.Up {
					fs = append(fs, newFinding(CodeAddressDown, k.name,
						"%s does not answer (%s) while other addresses of %s do", addr(p), p.Reason, k.target).on(k.target).at(addr(p)))
				}
			}
		}
	}
	for _, name := range services {
		if !serviceUp[name] {
			fs = append(fs, newFinding(CodeServiceDown, name, "no target of %s answers: the service is unreachable", name))
		}
	}
	return fs
}

// Certificate is the chain a TLS server presented for a service.
type Certificate struct {
	Name    string // the SRV owner
	Target  string
	Address string // address and port it came from
	// Domain is the name the certificate must carry: the service domain (RFC 6125 and RFC 5922 for SIP,
	// RFC 6120 section 13.7.2.1 for XMPP name the service domain, not the SRV target).
	Domain string
	Chain  []*x509.Certificate // leaf first
}

// CertDays is the default of how many days before its expiry a certificate is reported.
const CertDays = 14

// CheckCertificate judges a certificate chain at time now: expired or not yet valid, expiring within
// warn, not naming the domain, not leading to a root in roots (nil: the system's).
func CheckCertificate(c Certificate, roots *x509.CertPool, now time.Time, warn time.Duration) []Finding {
	if len(c.Chain) == 0 {
		return nil
	}
	leaf := c.Chain[0]
	var fs []Finding
	f := func(code, format string, a ...any) {
		fs = append(fs, newFinding(code, c.Name, format, a...).on(c.Target).at(c.Address))
	}
	expired := now.After(leaf.NotAfter) || now.Before(leaf.NotBefore)
	switch {
	case now.After(leaf.NotAfter):
		f(CodeCertExpired, "certificate for %s expired on %s", subject(leaf), leaf.NotAfter.UTC().Format(time.DateOnly))
	case now.Before(leaf.NotBefore):
		f(CodeCertExpired, "certificate for %s is not valid before %s", subject(leaf), leaf.NotBefore.UTC().Format(time.DateOnly))
	case leaf.NotAfter.Sub(now) < warn:
		f(CodeCertExpiring, "certificate for %s expires in %d days, on %s", subject(leaf), int(leaf.NotAfter.Sub(now).Hours()/24), leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	if !namesDomain(leaf, c.Domain, c.Name) {
		f(CodeCertName, "certificate names %s, not the service domain %s", subject(leaf), c.Domain)
	}
	vo := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, ic := range c.Chain[1:] {
		vo.Intermediates.AddCert(ic)
	}
	if _, err := leaf.Verify(vo); err != nil {
		var inv x509.CertificateInvalidError
		if !(expired && errors.As(err, &inv) && inv.Reason == x509.Expired) {
			f(CodeCertUntrusted, "certificate chain of %s does not verify: %v", subject(leaf), err)
		}
	}
	return fs
}

// The otherName types of subjectAltName that name an XMPP service: XmppAddr (RFC 6120 section 13.7.1.4)
// and SRVName (RFC 4985).
var (
	oidSAN      = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidXMPPAddr = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 5}
	oidSRVName  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 7}
)

// namesDomain reports whether a certificate carries the identity of the service domain for the service
// of the SRV owner, as its protocol defines the identity:
//   - any service: a DNS-ID (dNSName, wildcards as RFC 6125 allows them), and the common name of a
//     certificate without any subjectAltName (RFC 5922 section 7.1, RFC 6125 section 6.4.4);
//   - SIP: a URI-ID "sip:DOMAIN" (or sips:) without a user part (RFC 5922 section 7.1);
//   - XMPP: the SRV-ID "_xmpp-client.DOMAIN" or "_xmpp-server.DOMAIN" of the service (RFC 4985), or the
//     XmppAddr "DOMAIN" (RFC 6120 section 13.7.1.2).
func namesDomain(leaf *x509.Certificate, domain, owner string) bool {
	if leaf.VerifyHostname(domain) == nil {
		return true
	}
	hasSAN := slices.ContainsFunc(leaf.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(oidSAN) })
	if !hasSAN && strings.EqualFold(leaf.Subject.CommonName, domain) {
		return true
	}
	svc, _ := ServiceOf(owner)
	switch svc.Protocol {
	case "sip":
		for _, u := range leaf.URIs {
			if (u.Scheme == "sip" || u.Scheme == "sips") && !strings.Contains(u.Opaque, "@") &&
				strings.EqualFold(strings.TrimSuffix(u.Opaque, "."), domain) {
				return true
			}
		}
	case "xmpp":
		srvID := "_xmpp-" + svc.Role + "." + domain
		if svc.Legacy {
			srvID = "_xmpp-server." + domain
		}
		for _, o := range otherNames(leaf) {
			if o.id.Equal(oidXMPPAddr) && strings.EqualFold(o.value, domain) || o.id.Equal(oidSRVName) && strings.EqualFold(o.value, srvID) {
				return true
			}
		}
	}
	return false
}

type otherNameValue struct {
	id    asn1.ObjectIdentifier
	value string
}

// otherNames reads the otherName entries of a certificate's subjectAltName, which crypto/x509 skips:
// otherName ::= [0] { type-id OBJECT IDENTIFIER, value [0] EXPLICIT ANY } (RFC 5280 section 4.2.1.6),
// with a string as the value.
func otherNames(c *x509.Certificate) []otherNameValue {
	var out []otherNameValue
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidSAN) {
			continue
		}
		var names []asn1.RawValue
		if _, err := asn1.Unmarshal(e.Value, &names); err != nil {
			return nil
		}
		for _, n := range names {
			if n.Class != asn1.ClassContextSpecific || n.Tag != 0 {
				continue
			}
			var id asn1.ObjectIdentifier
			rest, err := asn1.Unmarshal(n.Bytes, &id)
			if err != nil {
				continue
			}
			var explicit, str asn1.RawValue
			if _, err := asn1.Unmarshal(rest, &explicit); err != nil || explicit.Tag != 0 {
				continue
			}
			if _, err := asn1.Unmarshal(explicit.Bytes, &str); err != nil {
				continue
			}
			out = append(out, otherNameValue{id, string(str.Bytes)})
		}
	}
	return out
}

// subject names a certificate by its DNS names, or its common name when it has none.
func subject(c *x509.Certificate) string {
	if len(c.DNSNames) > 0 {
		return strings.Join(c.DNSNames, ", ")
	}
	return c.Subject.CommonName
}

// StartTLS is what an XMPP server on a STARTTLS port said about it.
type StartTLS struct {
	Name    string
	Target  string
	Address string
	State   string // "none", "offered" or "required"
	Err     string // why the negotiation failed; empty when it did not
}

// CheckStartTLS judges an XMPP server's STARTTLS: missing, optional, or failing.
func CheckStartTLS(s StartTLS) []Finding {
	f := func(code, format string, a ...any) []Finding {
		return []Finding{newFinding(code, s.Name, format, a...).on(s.Target).at(s.Address)}
	}
	switch {
	case s.State == "none":
		return f(CodeStartTLSMissing, "%s offers no STARTTLS: clients that insist on TLS (most do) cannot connect", s.Address)
	case s.Err != "":
		return f(CodeStartTLSFailed, "%s offers STARTTLS but the negotiation fails: %s", s.Address, s.Err)
	case s.State == "offered":
		return f(CodeStartTLSOptional, "%s offers STARTTLS without requiring it: a client can be talked out of it", s.Address)
	}
	return nil
}
