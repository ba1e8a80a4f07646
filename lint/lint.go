// Package lint holds the rules by which srvhealth judges SIP and XMPP SRV and NAPTR records, a zone file,
// the answers of a domain's authoritative servers and the results of probing its targets.
//
// Every rule has a stable code and a severity, listed in Rules; a Finding names the rule it comes from.
// Nothing here touches the network: the caller gathers records, answers and probe results, and the
// functions of this package judge them. The srvhealth command and the plugin's own warnings use the
// same rules, so the two never disagree.
package lint

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Severity says how bad a finding is. The srvhealth command turns the worst one into its exit status,
// the monitoring-plugin way: error 2, warning 1, info 0.
type Severity uint8

// The severities, from least to most severe.
const (
	Info Severity = iota + 1
	Warning
	Error
)

// String returns "info", "warning" or "error".
func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// MarshalText writes the severity as its String.
func (s Severity) MarshalText() ([]byte, error) {
	switch s {
	case Info, Warning, Error:
		return []byte(s.String()), nil
	}
	return nil, fmt.Errorf("lint: no severity %d", uint8(s))
}

// UnmarshalText reads what MarshalText writes.
func (s *Severity) UnmarshalText(b []byte) error {
	for _, v := range []Severity{Info, Warning, Error} {
		if string(b) == v.String() {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("lint: unknown severity %q", b)
}

// Finding is one thing a rule found.
type Finding struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	// Name is the owner name the finding is about: an SRV or NAPTR owner, the domain, or the zone.
	Name string `json:"name"`
	// Target is the SRV target (or NAPTR replacement) it is about, if any.
	Target string `json:"target,omitempty"`
	// Address is the probed address and port, or the DNS server, it is about, if any.
	Address string `json:"address,omitempty"`
	// Line is the line of the zone file it is about; 0 when it does not come from a file.
	Line int `json:"line,omitempty"`
	// Message says what is wrong and what to do about it, in one line.
	Message string `json:"message"`
}

// Rule is one check with its stable code.
type Rule struct {
	Code     string
	Severity Severity
	// Summary says when the rule fires, in one line.
	Summary string
}

// The rule codes. They are part of srvhealth's interface (CI scripts match them) and never change
// meaning; a rule that goes away leaves its code unused.
const (
	// Records, wherever they come from.
	CodeCNAMETarget      = "cname-target"
	CodeNoAddress        = "no-address"
	CodeDoubledOrigin    = "doubled-origin"
	CodeDotTarget        = "dot-target"
	CodeDotTargetMixed   = "dot-target-mixed"
	CodePortMismatch     = "port-mismatch"
	CodeSingleTarget     = "single-target"
	CodeZeroWeights      = "zero-weights"
	CodeTTLLong          = "ttl-long"
	CodeTTLMixed         = "ttl-mixed"
	CodeIPTarget         = "ip-target"
	CodeUnderscoreTarget = "underscore-target"
	CodePortZero         = "port-zero"
	CodeNoTLSSibling     = "no-tls-sibling"
	CodeNoXMPPServer     = "no-xmpp-server"
	CodeLegacyJabber     = "legacy-jabber"
	CodeNoSRV            = "no-srv"
	CodeNAPTRMismatch    = "naptr-mismatch"
	CodeNAPTRNoSRV       = "naptr-no-srv"

	// What only a zone file shows.
	CodeMissingDot     = "missing-dot"
	CodeLookalikeLabel = "lookalike-label"
	CodeLabelCase      = "label-case"
	CodeZoneSyntax     = "zone-syntax"

	// The drain lines of a Corefile.
	CodeDrainOutside = "drain-outside"
	CodeDrainUnseen  = "drain-unseen"

	// The authoritative servers, and a server given with --server.
	CodeNSUnreachable  = "ns-unreachable"
	CodeNSLame         = "ns-lame"
	CodeNSDisagree     = "ns-disagree"
	CodeNSFiltered     = "ns-filtered"
	CodeNameServfail   = "name-servfail"
	CodeZoneNotServed  = "zone-not-served"
	CodeServerStale    = "server-stale"
	CodeServerDropUp   = "server-dropped-up"
	CodeServerKeptDown = "server-kept-down"

	// Probes of the targets.
	CodeTargetDown       = "target-down"
	CodeAddressDown      = "address-down"
	CodeFamilyDead       = "family-dead"
	CodeServiceDown      = "service-down"
	CodeCertExpired      = "cert-expired"
	CodeCertExpiring     = "cert-expiring"
	CodeCertName         = "cert-name"
	CodeCertUntrusted    = "cert-untrusted"
	CodeStartTLSMissing  = "starttls-missing"
	CodeStartTLSOptional = "starttls-optional"
	CodeStartTLSFailed   = "starttls-failed"
)

var rules = []Rule{
	{CodeCNAMETarget, Error, "an SRV target is an alias (CNAME); RFC 2782 forbids it and many SIP/XMPP stacks reject it"},
	{CodeNoAddress, Error, "an SRV target has no A or AAAA record, or does not exist"},
	{CodeDoubledOrigin, Error, "an SRV target ends in its zone written twice (sip1.example.com.example.com.)"},
	{CodeDotTarget, Info, `the only record is the target "." (RFC 2782: service decidedly not available)`},
	{CodeDotTargetMixed, Warning, `a "." target stands beside other records of the same name`},
	{CodePortMismatch, Warning, "the port is the usual port of another service (_sips._tcp on 5060, _xmpp-client on 5269...)"},
	{CodeSingleTarget, Info, "a service has a single target: no failover"},
	{CodeZeroWeights, Info, "every record of a priority with several targets has weight 0"},
	{CodeTTLLong, Warning, "the TTL is over an hour: caches keep a dead target that long"},
	{CodeTTLMixed, Warning, "the records of one RRset have different TTLs (RFC 2181 section 5.2): give them one TTL"},
	{CodeIPTarget, Error, "an SRV target is an IP address written as a name; RFC 2782 wants a host name with A/AAAA records"},
	{CodeUnderscoreTarget, Error, "an SRV target has a label starting with an underscore (a service name, not a host): point it at the host"},
	{CodePortZero, Error, "an SRV record with a real target has port 0, on which no client can connect"},
	{CodeNoTLSSibling, Warning, "_sip._udp or _sip._tcp without _sips._tcp, the name RFC 3263 clients look up for TLS (_sip._tls is not)"},
	{CodeNoXMPPServer, Info, "_xmpp-client._tcp without _xmpp-server._tcp: other servers fall back to the bare domain"},
	{CodeLegacyJabber, Info, "_jabber._tcp is obsolete; clients and servers look up _xmpp-client._tcp and _xmpp-server._tcp"},
	{CodeNoSRV, Warning, "the domain has none of the SIP or XMPP SRV records"},
	{CodeNAPTRMismatch, Warning, "a SIP NAPTR record's service does not fit the SRV name it points to"},
	{CodeNAPTRNoSRV, Error, "a NAPTR record points to an SRV name that has no SRV records"},
	{CodeMissingDot, Error, "zone file: an SRV target written without its trailing dot, so the origin is appended"},
	{CodeLookalikeLabel, Error, "zone file: a label like _xmpp_client._tcp or _sips._tls that no client looks up"},
	{CodeLabelCase, Info, "zone file: a service label in upper case (_sip._TLS); DNS matches it, but write it as clients do"},
	{CodeZoneSyntax, Error, "zone file: a line that does not parse, or an $INCLUDE not followed"},
	{CodeDrainOutside, Warning, "Corefile: a drained target is not under the zones of its srvhealth block, so no answer the block filters names it"},
	{CodeDrainUnseen, Warning, "Corefile: a drained target (and port) is named by no SRV record checked: a typo, or a record already gone"},
	{CodeNSUnreachable, Error, "an authoritative server does not answer"},
	{CodeNSLame, Error, "an authoritative server answers, but not authoritatively (lame delegation) or with an error"},
	{CodeNSDisagree, Warning, "the authoritative servers give different answers (an update not yet everywhere)"},
	{CodeNSFiltered, Info, "an authoritative server runs srvhealth on its answers (its status view says so): it serves what its probes let through, not the zone; the targets it left out are probed too"},
	{CodeNameServfail, Error, "an authoritative server that serves the zone answers SERVFAIL (or another error) for one name: clients get no answer there"},
	{CodeZoneNotServed, Warning, "a record of the zone file given with --zone is not served by an authoritative server: srvhealth filtering it, or the file not deployed there"},
	{CodeServerStale, Warning, "the server given with --server serves a record no authoritative server has"},
	{CodeServerDropUp, Warning, "the server given with --server leaves out a target that answered our probe"},
	{CodeServerKeptDown, Info, "the server given with --server serves a target that did not answer our probe"},
	{CodeTargetDown, Warning, "no address of an SRV target answers its probe"},
	{CodeAddressDown, Warning, "an address of an SRV target does not answer its probe while others do"},
	{CodeFamilyDead, Warning, "an SRV target's IPv6 (or IPv4) addresses are published but none answers, while the other family does"},
	{CodeServiceDown, Error, "no target of a service answers its probe"},
	{CodeCertExpired, Error, "the certificate has expired or is not yet valid"},
	{CodeCertExpiring, Warning, "the certificate expires soon (--cert-days, default 14)"},
	{CodeCertName, Error, "the certificate does not name the service domain in any form its protocol accepts (DNS-ID; SIP URI, RFC 5922; XMPP SRV-ID or XmppAddr, RFC 6120)"},
	{CodeCertUntrusted, Error, "the certificate chain does not lead to a trusted root"},
	{CodeStartTLSMissing, Error, "an XMPP server does not offer STARTTLS"},
	{CodeStartTLSOptional, Info, "an XMPP server offers STARTTLS but does not require it"},
	{CodeStartTLSFailed, Error, "an XMPP server offers STARTTLS but the negotiation fails"},
}

// Rules returns every rule, in the order of the documentation.
func Rules() []Rule { return slices.Clone(rules) }

// RuleFor returns the rule with the code.
func RuleFor(code string) (Rule, bool) {
	i := slices.IndexFunc(rules, func(r Rule) bool { return r.Code == code })
	if i < 0 {
		return Rule{}, false
	}
	return rules[i], true
}

// newFinding makes a finding of the rule code, with its severity. An unknown code is a bug in this
// package, which the tests catch.
func newFinding(code, name string, format string, a ...any) Finding {
	r, ok := RuleFor(code)
	if !ok {
		panic("lint: no rule " + code)
	}
	return Finding{Code: code, Severity: r.Severity, Name: name, Message: fmt.Sprintf(format, a...)}
}

func (f Finding) on(target string) Finding  { f.Target = target; return f }
func (f Finding) at(address string) Finding { f.Address = address; return f }
func (f Finding) onLine(line int) Finding   { f.Line = line; return f }
func (f Finding) String() string {
	return f.Severity.String() + " " + f.Code + " " + f.Name + ": " + f.Message
}

// Sort orders findings the way a report lists them: worst first, then by name, target, address, line
// and code.
func Sort(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(b.Severity, a.Severity),
			strings.Compare(a.Name, b.Name),
			strings.Compare(a.Target, b.Target),
			strings.Compare(a.Address, b.Address),
			cmp.Compare(a.Line, b.Line),
			strings.Compare(a.Code, b.Code),
		)
	})
}

// Worst returns the highest severity among fs, or 0 when there is none.
func Worst(fs []Finding) Severity {
	var w Severity
	for _, f := range fs {
		w = max(w, f.Severity)
	}
	return w
}

// DoubledOrigin reports whether name ends in one of zones written twice, "sip1.example.com.example.com.":
// the mark of a zone file that forgot a target's trailing dot. Names and zones are fully qualified and
// in lower case; the root zone never counts.
func DoubledOrigin(name string, zones []string) bool {
	for _, z := range zones {
		if z == "." || z == "" {
			continue
		}
		if strings.HasSuffix(name, "."+z[:len(z)-1]+"."+z) || name == z[:len(z)-1]+"."+z {
			return true
		}
	}
	return false
}
