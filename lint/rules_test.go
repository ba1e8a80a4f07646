package lint

import (
	"crypto/x509"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/internal/testpeer"
)

// The zone every zone case starts from: its addresses, and nothing else.
const zoneHead = `$ORIGIN example.com.
$TTL 300
@       IN SOA ns1 hostmaster ( 2026112501 7200 3600 1209600 300 )
@       IN NS  ns1
ns1     IN A   192.0.2.53
sip1    IN A   192.0.2.1
sip1    IN AAAA 2001:db8::1
sip2    IN A   192.0.2.2
xmpp1   IN A   192.0.2.3
xmpp2   IN A   192.0.2.4
`

// cleanServices is a zone's worth of SIP and XMPP services that no rule finds fault with.
const cleanServices = `_sip._udp          IN SRV 10 60 5060 sip1
_sip._udp          IN SRV 10 40 5060 sip2
_sip._tcp          IN SRV 10 60 5060 sip1
_sip._tcp          IN SRV 10 40 5060 sip2.example.com.
_sips._tcp         IN SRV 10 60 5061 sip1
_sips._tcp         IN SRV 10 40 5061 sip2
_xmpp-client._tcp  IN SRV 5 50 5222 xmpp1
_xmpp-client._tcp  IN SRV 5 50 5222 xmpp2
_xmpp-server._tcp  IN SRV 5 50 5269 xmpp1
_xmpp-server._tcp  IN SRV 5 50 5269 xmpp2
`

func zoneFindings(t *testing.T, text string) []Finding {
	t.Helper()
	z, err := ParseZone(strings.NewReader(text), "", "db.example.com")
	if err != nil {
		t.Fatal(err)
	}
	return z.Check()
}

// clean: the base zone plus extra.
func clean(extra string) func(*testing.T) []Finding {
	return func(t *testing.T) []Finding { return zoneFindings(t, zoneHead+cleanServices+extra) }
}

// only: the zone's addresses and these records, no services besides.
func only(records string) func(*testing.T) []Finding {
	return func(t *testing.T) []Finding { return zoneFindings(t, zoneHead+records) }
}

func srv(owner string, ttl uint32, prio, weight, port uint16, target string) SRV {
	return SRV{SRV: &dns.SRV{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: ttl},
		Priority: prio, Weight: weight, Port: port, Target: target}}
}

func domain(d *Domain) func(*testing.T) []Finding {
	return func(*testing.T) []Finding { return d.Check() }
}

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return rr
}

func probes(ps ...Probe) func(*testing.T) []Finding {
	return func(*testing.T) []Finding { return CheckProbes(ps) }
}

func probed(name, target string, port uint16, addr string, up bool) Probe {
	r := "sip 200 OK"
	if !up {
		r = "timeout"
	}
	return Probe{Name: name, Target: target, Port: port, Addr: netip.MustParseAddr(addr), Up: up, Reason: r}
}

func certCase(spec testpeer.CertSpec, domain string, trusted bool) func(*testing.T) []Finding {
	return func(t *testing.T) []Finding {
		c := testpeer.NewCert(t, spec)
		roots := c.Pool
		if !trusted {
			roots = testpeer.NewCert(t, spec).Pool // another CA
		}
		chain := []*x509.Certificate{c.Leaf}
		return CheckCertificate(Certificate{Name: "_sips._tcp.example.com.", Target: "sip1.example.com.", Address: "192.0.2.1:5061",
			Domain: domain, Chain: chain}, roots, time.Now(), CertDays*24*time.Hour)
	}
}

const sipUDP = "_sip._udp.example.com."

type ruleCase struct {
	name string
	code string
	fire bool
	run  func(*testing.T) []Finding
	line int // for a case that fires from a zone file: the line the finding must name
}

var now = time.Now()

var ruleCases = []ruleCase{
	{"alias target", CodeCNAMETarget, true, clean("_xmpps-client._tcp IN SRV 0 1 5223 alias\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\nalias IN CNAME xmpp1\n"), 21},
	{"address target", CodeCNAMETarget, false, clean(""), 0},

	{"target without address", CodeNoAddress, true, clean("_xmpps-client._tcp IN SRV 0 1 5223 ghost\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\nghost IN TXT \"here\"\n"), 21},
	{"alias out of the zone file", CodeNoAddress, false, clean("_xmpps-client._tcp IN SRV 0 1 5223 alias\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\nalias IN CNAME xmpp.example.net.\n"), 0},
	{"target that does not exist", CodeNoAddress, true, clean("_xmpps-client._tcp IN SRV 0 1 5223 nowhere\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\n"), 21},
	{"alias to nothing", CodeNoAddress, true, clean("_xmpps-client._tcp IN SRV 0 1 5223 alias\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\nalias IN CNAME nowhere\n"), 21},
	{"target outside the zone file", CodeNoAddress, false, clean("_xmpps-client._tcp IN SRV 0 1 5223 xmpp.example.net.\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\n"), 0},

	{"origin twice", CodeDoubledOrigin, true, domain(&Domain{Name: "example.com.", Zones: []string{"example.com."},
		SRV: []SRV{srv(sipUDP, 300, 10, 1, 5060, "sip1.example.com.example.com."), srv(sipUDP, 300, 10, 1, 5060, "sip2.example.com.")}}), 0},
	{"origin once", CodeDoubledOrigin, false, domain(&Domain{Name: "example.com.", Zones: []string{"example.com."},
		SRV: []SRV{srv(sipUDP, 300, 10, 1, 5060, "sip1.example.com.example.net."), srv(sipUDP, 300, 10, 1, 5060, "sip2.example.com.")}}), 0},
	{"missing dot in a file is reported as such, not twice", CodeDoubledOrigin, false, clean("_xmpps-client._tcp IN SRV 0 1 5223 xmpp1.example.com\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp2\n"), 0},

	{"dot alone", CodeDotTarget, true, clean("_xmpps-client._tcp IN SRV 0 0 0 .\n"), 21},
	{"no dot", CodeDotTarget, false, clean(""), 0},
	{"dot beside targets", CodeDotTarget, false, clean("_sip._udp IN SRV 0 0 0 .\n"), 0},

	{"dot beside targets", CodeDotTargetMixed, true, clean("_sip._udp IN SRV 0 0 0 .\n"), 21},
	{"dot alone", CodeDotTargetMixed, false, clean("_xmpps-client._tcp IN SRV 0 0 0 .\n"), 0},

	{"sips on the plain port", CodePortMismatch, true, only("_sips._tcp IN SRV 0 1 5060 sip1\n_sips._tcp IN SRV 0 1 5061 sip2\n"), 11},
	{"xmpp-client on the s2s port", CodePortMismatch, true, clean("_xmpps-client._tcp IN SRV 0 1 5222 xmpp1\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp2\n"), 21},
	{"sip on an unusual port", CodePortMismatch, false, only("_sip._tls IN SRV 0 1 5061 sip1\n_sip._tls IN SRV 0 1 15061 sip2\n_sip._tcp IN SRV 0 1 5080 sip1\n_sip._tcp IN SRV 0 1 5080 sip2\n"), 0},
	{"jabber on either port", CodePortMismatch, false, clean("_jabber._tcp IN SRV 0 1 5222 xmpp1\n_jabber._tcp IN SRV 0 1 5269 xmpp2\n"), 0},

	{"one target", CodeSingleTarget, true, clean("_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\n"), 21},
	{"one target on two ports", CodeSingleTarget, true, clean("_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\n_xmpps-client._tcp IN SRV 1 1 443 xmpp1\n"), 21},
	{"two targets", CodeSingleTarget, false, clean(""), 0},

	{"all weights 0", CodeZeroWeights, true, clean("_xmpps-client._tcp IN SRV 0 0 5223 xmpp1\n_xmpps-client._tcp IN SRV 0 0 5223 xmpp2\n"), 21},
	{"one weight 0", CodeZeroWeights, false, clean("_xmpps-client._tcp IN SRV 0 0 5223 xmpp1\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp2\n"), 0},
	{"weight 0 alone in its priority", CodeZeroWeights, false, clean("_xmpps-client._tcp IN SRV 0 0 5223 xmpp1\n_xmpps-client._tcp IN SRV 1 0 5223 xmpp2\n"), 0},

	{"a day", CodeTTLLong, true, clean("_xmpps-client._tcp 86400 IN SRV 0 1 5223 xmpp1\n_xmpps-client._tcp 86400 IN SRV 0 1 5223 xmpp2\n"), 21},
	{"an hour", CodeTTLLong, false, clean("_xmpps-client._tcp 3600 IN SRV 0 1 5223 xmpp1\n_xmpps-client._tcp 3600 IN SRV 0 1 5223 xmpp2\n"), 0},

	{"ttls of one set differ", CodeTTLMixed, true, clean("_xmpps-client._tcp 300 IN SRV 0 1 5223 xmpp1\n_xmpps-client._tcp 600 IN SRV 0 1 5223 xmpp2\n"), 22},
	{"one ttl", CodeTTLMixed, false, clean(""), 0},

	{"IPv4 address as target", CodeIPTarget, true, clean("_xmpps-client._tcp IN SRV 0 1 5223 192.0.2.3.\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp2\n"), 21},
	{"IPv4 address as target, no dot", CodeIPTarget, true, clean("_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\n_xmpps-client._tcp IN SRV 0 1 5223 192.0.2.4\n"), 22},
	{"host names", CodeIPTarget, false, clean("_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\n_xmpps-client._tcp IN SRV 0 1 5223 4.xmpp2\n4.xmpp2 IN A 192.0.2.4\n"), 0},

	{"service name as target", CodeUnderscoreTarget, true, clean("_xmpps-client._tcp IN SRV 0 1 5223 _xmpp-client._tcp.example.com.\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp2\n"), 21},
	{"host names", CodeUnderscoreTarget, false, clean(""), 0},

	{"port 0 with a target", CodePortZero, true, clean("_xmpps-client._tcp IN SRV 0 1 0 xmpp1\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp2\n"), 21},
	{"port 0 with the target .", CodePortZero, false, clean("_xmpps-client._tcp IN SRV 0 0 0 .\n"), 0},

	{"sip without tls", CodeNoTLSSibling, true, only("_sip._udp IN SRV 0 1 5060 sip1\n_sip._udp IN SRV 0 1 5060 sip2\n"), 0},
	// RFC 3263 section 4.1: a client that wants TLS looks up _sips._tcp; _sip._tls is not asked for.
	{"sip with _sip._tls only", CodeNoTLSSibling, true, only("_sip._udp IN SRV 0 1 5060 sip1\n_sip._udp IN SRV 0 1 5060 sip2\n_sip._tls IN SRV 0 1 5061 sip1\n_sip._tls IN SRV 0 1 5061 sip2\n"), 0},
	{"tls said to be unavailable", CodeNoTLSSibling, false, only("_sip._udp IN SRV 0 1 5060 sip1\n_sip._udp IN SRV 0 1 5060 sip2\n_sips._tcp IN SRV 0 0 0 .\n"), 0},

	{"client without server", CodeNoXMPPServer, true, only("_xmpp-client._tcp IN SRV 0 1 5222 xmpp1\n_xmpp-client._tcp IN SRV 0 1 5222 xmpp2\n"), 0},
	{"client and server", CodeNoXMPPServer, false, clean(""), 0},

	{"jabber", CodeLegacyJabber, true, clean("_jabber._tcp IN SRV 0 1 5269 xmpp1\n_jabber._tcp IN SRV 0 1 5269 xmpp2\n"), 21},
	{"no jabber", CodeLegacyJabber, false, clean(""), 0},

	{"no service", CodeNoSRV, true, only("_ldap._tcp IN SRV 0 1 389 ns1\n"), 0},
	{"services", CodeNoSRV, false, clean(""), 0},

	{"sips naptr to plain sip", CodeNAPTRMismatch, true, clean(`@ IN NAPTR 10 10 "S" "SIPS+D2T" "" _sip._tcp.example.com.` + "\n"), 21},
	{"sips naptr to sips", CodeNAPTRMismatch, false, clean(`@ IN NAPTR 10 10 "S" "SIPS+D2T" "" _sips._tcp.example.com.` + "\n"), 0},

	{"naptr to nothing", CodeNAPTRNoSRV, true, clean(`@ IN NAPTR 10 10 "S" "SIP+D2U" "" _sip._udp.pbx.example.com.` + "\n"), 21},
	{"naptr to srv", CodeNAPTRNoSRV, false, clean(`@ IN NAPTR 10 10 "S" "SIP+D2U" "" _sip._udp.example.com.` + "\n"), 0},
	{"naptr to srv elsewhere in the zone", CodeNAPTRNoSRV, false, clean(`@ IN NAPTR 10 10 "S" "SIP+D2U" "" _sip._udp.pbx.example.com.` + "\n_sip._udp.pbx IN SRV 0 1 5060 sip1\n"), 0},
	{"naptr outside the zone", CodeNAPTRNoSRV, false, clean(`@ IN NAPTR 10 10 "S" "SIP+D2U" "" _sip._udp.example.net.` + "\n"), 0},

	{"target with the origin, no dot", CodeMissingDot, true, clean("_xmpps-client._tcp IN SRV 0 1 5223 xmpp1.example.com\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp2\n"), 21},
	{"target in another domain, no dot", CodeMissingDot, true, clean("_xmpps-client._tcp IN SRV 0 1 5223 xmpp.other.com\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp2\n"), 21},
	{"target in another domain under another TLD, no dot", CodeMissingDot, true, clean("_xmpps-client._tcp IN SRV 0 1 5223 sip1.example.net\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp2\n"), 21},
	{"relative targets", CodeMissingDot, false, clean("_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp.dc1\nxmpp.dc1 IN A 192.0.2.9\n"), 0},

	{"underscore for hyphen", CodeLookalikeLabel, true, clean("_xmpp_client._tcp IN SRV 0 1 5222 xmpp1\n"), 21},
	{"sips over tls", CodeLookalikeLabel, true, clean("_sips._tls IN SRV 0 1 5061 sip1\n"), 21},
	{"no underscore", CodeLookalikeLabel, true, clean("sip._udp IN SRV 0 1 5060 sip1\n"), 21},
	{"other services", CodeLookalikeLabel, false, clean("_ldap._tcp IN SRV 0 1 389 ns1\n_sip._sctp IN SRV 0 1 5060 sip1\n_imaps._tcp IN SRV 0 1 993 ns1\n_25._tcp.mail IN TLSA 3 1 1 0123456789abcdef\n_dmarc IN TXT \"v=DMARC1\"\n"), 0},

	{"upper case", CodeLabelCase, true, clean("_sip._TLS IN SRV 0 1 5061 sip1\n_sip._TLS IN SRV 0 1 5061 sip2\n"), 21},
	{"lower case", CodeLabelCase, false, clean(""), 0},

	{"missing field", CodeZoneSyntax, true, clean("_sip._tls IN SRV 0 1 sip1\n"), 21},
	{"include", CodeZoneSyntax, true, clean("$INCLUDE other.db\n"), 21},
	{"parses", CodeZoneSyntax, false, clean("_sip._tls IN SRV ( 0 1 ; a comment\n   5061 sip1 )\n_sip._tls IN SRV 0 1 5061 sip2\n"), 0},

	{"drain outside the zones", CodeDrainOutside, true, func(*testing.T) []Finding {
		return CheckDrains([]string{"example.com."}, []Drain{{Target: "sip1.example.org.", Line: 3}}, nil)
	}, 3},
	{"drain outside the zones, named by a record", CodeDrainOutside, false, func(*testing.T) []Finding {
		return CheckDrains([]string{"example.com."}, []Drain{{Target: "sip.provider.net."}}, func(string, uint16) bool { return true })
	}, 0},
	{"drain of a target no record names", CodeDrainUnseen, true, func(*testing.T) []Finding {
		return CheckDrains([]string{"example.com."}, []Drain{{Target: "sip3.example.com.", Port: 5060, Line: 4}}, func(string, uint16) bool { return false })
	}, 4},
	{"drain of a target a record names", CodeDrainUnseen, false, func(*testing.T) []Finding {
		return CheckDrains([]string{"example.com."}, []Drain{{Target: "sip1.example.com."}}, func(t string, _ uint16) bool { return t == "sip1.example.com." })
	}, 0},
	{"drain with nothing to compare", CodeDrainUnseen, false, func(*testing.T) []Finding {
		return CheckDrains([]string{"example.com."}, []Drain{{Target: "sip3.example.com."}}, nil)
	}, 0},

	{"no answer", CodeNSUnreachable, true, func(*testing.T) []Finding {
		return CheckServers("example.com.", []Server{{Name: "ns1.example.com.", Address: "192.0.2.53:53"}, {Name: "ns2.example.com.", Address: "192.0.2.54:53", Err: "timeout"}})
	}, 0},
	{"answers", CodeNSUnreachable, false, func(*testing.T) []Finding {
		return CheckServers("example.com.", []Server{{Name: "ns1.example.com.", Address: "192.0.2.53:53"}})
	}, 0},
	{"refused", CodeNSLame, true, func(*testing.T) []Finding {
		return CheckServers("example.com.", []Server{{Name: "ns1.example.com.", Address: "192.0.2.53:53", Lame: "REFUSED"}})
	}, 0},
	{"authoritative", CodeNSLame, false, func(*testing.T) []Finding {
		return CheckServers("example.com.", []Server{{Name: "ns1.example.com.", Address: "192.0.2.53:53"}})
	}, 0},

	{"a target left out", CodeNSFiltered, true, func(*testing.T) []Finding {
		return CheckFiltered(Filtered{Server: "ns1.example.com.", Address: "192.0.2.53:53", Name: sipUDP, LeftOut: []string{"sip2.example.com.:5060 (down)"}, Listed: 2, Down: 1})
	}, 0},
	{"all down, servfail", CodeNSFiltered, true, func(*testing.T) []Finding {
		return CheckFiltered(Filtered{Server: "ns1.example.com.", Address: "192.0.2.53:53", Name: sipUDP, Rcode: "SERVFAIL", LeftOut: []string{"sip1.example.com.:5060 (down)", "sip2.example.com.:5060 (down)"}, Listed: 2, Down: 2})
	}, 0},
	{"nothing left out", CodeNSFiltered, false, func(*testing.T) []Finding {
		return CheckFiltered(Filtered{Server: "ns1.example.com.", Address: "192.0.2.53:53", Name: sipUDP, Listed: 2})
	}, 0},
	{"servfail for one name", CodeNameServfail, true, func(*testing.T) []Finding {
		return CheckNameServfail("ns1.example.com.", "192.0.2.53:53", sipUDP, "SERVFAIL")
	}, 0},
	{"a filtered servfail is not name-servfail", CodeNameServfail, false, func(*testing.T) []Finding {
		return CheckFiltered(Filtered{Server: "ns1.example.com.", Address: "192.0.2.53:53", Name: sipUDP, Rcode: "SERVFAIL", Listed: 1, Down: 1, LeftOut: []string{"sip1.example.com.:5060 (down)"}})
	}, 0},

	{"a record of the file not served", CodeZoneNotServed, true, func(*testing.T) []Finding {
		a, b := srv(sipUDP, 300, 10, 1, 5060, "sip1.example.com."), srv(sipUDP, 300, 10, 1, 5060, "sip2.example.com.")
		return CheckZoneServed("db.example.com", "ns1.example.com.", "192.0.2.53:53", sipUDP, []*dns.SRV{a.SRV, b.SRV}, []*dns.SRV{a.SRV})
	}, 0},
	{"every record of the file served", CodeZoneNotServed, false, func(*testing.T) []Finding {
		a, b := srv(sipUDP, 300, 10, 1, 5060, "sip1.example.com."), srv(sipUDP, 5, 10, 1, 5060, "sip2.example.com.")
		return CheckZoneServed("db.example.com", "ns1.example.com.", "192.0.2.53:53", sipUDP, []*dns.SRV{a.SRV, b.SRV}, []*dns.SRV{b.SRV, a.SRV})
	}, 0},

	{"a record on two of three", CodeNSDisagree, true, func(*testing.T) []Finding {
		a, b := mustRR(sipUDP+" 300 IN SRV 10 1 5060 sip1.example.com."), mustRR(sipUDP+" 300 IN SRV 10 1 5060 sip3.example.com.")
		return CompareAnswers(sipUDP, dns.TypeSRV, []Answer{{Server: "ns1", Serial: 2, Records: []dns.RR{a, b}}, {Server: "ns2", Serial: 2, Records: []dns.RR{b, a}}, {Server: "ns3", Serial: 1, Records: []dns.RR{a}}})
	}, 0},
	{"same records, other order and TTL", CodeNSDisagree, false, func(*testing.T) []Finding {
		a, b := mustRR(sipUDP+" 300 IN SRV 10 1 5060 sip1.example.com."), mustRR(sipUDP+" 300 IN SRV 10 1 5060 sip3.example.com.")
		b2 := mustRR(sipUDP + " 120 IN SRV 10 1 5060 SIP3.example.com.")
		return CompareAnswers(sipUDP, dns.TypeSRV, []Answer{{Server: "ns1", Records: []dns.RR{a, b}}, {Server: "ns2", Records: []dns.RR{b2, a}}})
	}, 0},

	{"served a record nobody has", CodeServerStale, true, served(nil, []string{"10 1 5060 old.example.com."}), 0},
	{"served what the servers have", CodeServerStale, false, served(nil, []string{"10 1 5060 sip1.example.com."}), 0},
	{"served the unavailable dot", CodeServerStale, false, served(nil, []string{"0 0 0 ."}), 0},
	{"left out a live target", CodeServerDropUp, true, served(map[string]bool{"sip2.example.com.:5060": true}, []string{"10 1 5060 sip1.example.com."}), 0},
	{"left out a dead target", CodeServerDropUp, false, served(map[string]bool{"sip2.example.com.:5060": false}, []string{"10 1 5060 sip1.example.com."}), 0},
	{"left out an unprobed target", CodeServerDropUp, false, served(nil, []string{"10 1 5060 sip1.example.com."}), 0},
	{"served a dead target", CodeServerKeptDown, true, served(map[string]bool{"sip2.example.com.:5060": false}, []string{"10 1 5060 sip1.example.com.", "10 1 5060 sip2.example.com."}), 0},
	{"served live targets", CodeServerKeptDown, false, served(map[string]bool{"sip2.example.com.:5060": true}, []string{"10 1 5060 sip1.example.com.", "10 1 5060 sip2.example.com."}), 0},

	{"every address down", CodeTargetDown, true, probes(probed(sipUDP, "sip1.example.com.", 5060, "192.0.2.1", false), probed(sipUDP, "sip1.example.com.", 5060, "2001:db8::1", false), probed(sipUDP, "sip2.example.com.", 5060, "192.0.2.2", true)), 0},
	{"one address up", CodeTargetDown, false, probes(probed(sipUDP, "sip1.example.com.", 5060, "192.0.2.1", false), probed(sipUDP, "sip1.example.com.", 5060, "192.0.2.11", true)), 0},
	{"one of two IPv4 addresses down", CodeAddressDown, true, probes(probed(sipUDP, "sip1.example.com.", 5060, "192.0.2.1", false), probed(sipUDP, "sip1.example.com.", 5060, "192.0.2.11", true)), 0},
	{"every address up", CodeAddressDown, false, probes(probed(sipUDP, "sip1.example.com.", 5060, "192.0.2.1", true), probed(sipUDP, "sip1.example.com.", 5060, "2001:db8::1", true)), 0},
	{"IPv6 dead", CodeFamilyDead, true, probes(probed(sipUDP, "sip1.example.com.", 5060, "192.0.2.1", true), probed(sipUDP, "sip1.example.com.", 5060, "2001:db8::1", false)), 0},
	{"IPv4 dead", CodeFamilyDead, true, probes(probed(sipUDP, "sip1.example.com.", 5060, "192.0.2.1", false), probed(sipUDP, "sip1.example.com.", 5060, "2001:db8::1", true)), 0},
	{"one of two IPv6 addresses dead", CodeFamilyDead, false, probes(probed(sipUDP, "sip1.example.com.", 5060, "192.0.2.1", true), probed(sipUDP, "sip1.example.com.", 5060, "2001:db8::1", false), probed(sipUDP, "sip1.example.com.", 5060, "2001:db8::2", true)), 0},
	{"every target down", CodeServiceDown, true, probes(probed(sipUDP, "sip1.example.com.", 5060, "192.0.2.1", false), probed(sipUDP, "sip2.example.com.", 5060, "192.0.2.2", false)), 0},
	{"one target up", CodeServiceDown, false, probes(probed(sipUDP, "sip1.example.com.", 5060, "192.0.2.1", false), probed(sipUDP, "sip2.example.com.", 5060, "192.0.2.2", true)), 0},

	{"expired", CodeCertExpired, true, certCase(testpeer.CertSpec{Names: []string{"example.com"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}, "example.com", true), 0},
	{"not yet valid", CodeCertExpired, true, certCase(testpeer.CertSpec{Names: []string{"example.com"}, NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)}, "example.com", true), 0},
	{"valid", CodeCertExpired, false, certCase(testpeer.CertSpec{Names: []string{"example.com"}}, "example.com", true), 0},
	{"a week left", CodeCertExpiring, true, certCase(testpeer.CertSpec{Names: []string{"example.com"}, NotAfter: now.Add(7 * 24 * time.Hour)}, "example.com", true), 0},
	{"thirty days left", CodeCertExpiring, false, certCase(testpeer.CertSpec{Names: []string{"example.com"}}, "example.com", true), 0},
	{"names the target only", CodeCertName, true, certCase(testpeer.CertSpec{Names: []string{"sip1.example.com"}}, "example.com", true), 0},
	{"names the domain", CodeCertName, false, certCase(testpeer.CertSpec{Names: []string{"sip1.example.com", "example.com"}}, "example.com", true), 0},
	{"unknown CA", CodeCertUntrusted, true, certCase(testpeer.CertSpec{Names: []string{"example.com"}}, "example.com", false), 0},
	{"known CA", CodeCertUntrusted, false, certCase(testpeer.CertSpec{Names: []string{"example.com"}}, "example.com", true), 0},
	{"expired, known CA: reported once", CodeCertUntrusted, false, certCase(testpeer.CertSpec{Names: []string{"example.com"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}, "example.com", true), 0},

	{"no starttls", CodeStartTLSMissing, true, startTLS("none", ""), 0},
	{"starttls required", CodeStartTLSMissing, false, startTLS("required", ""), 0},
	{"starttls offered", CodeStartTLSOptional, true, startTLS("offered", ""), 0},
	{"starttls required", CodeStartTLSOptional, false, startTLS("required", ""), 0},
	{"starttls fails", CodeStartTLSFailed, true, startTLS("required", "tls handshake: handshake failure"), 0},
	{"starttls works", CodeStartTLSFailed, false, startTLS("offered", ""), 0},
}

// served compares a server's answer (records as "prio weight port target") with two authoritative
// records, sip1 and sip2 on 5060.
func served(up map[string]bool, got []string) func(*testing.T) []Finding {
	return func(*testing.T) []Finding {
		parse := func(ss []string) []*dns.SRV {
			var out []*dns.SRV
			for _, s := range ss {
				out = append(out, mustRR(sipUDP+" 300 IN SRV "+s).(*dns.SRV))
			}
			return out
		}
		return CompareServed(Served{Server: "127.0.0.1:53", Name: sipUDP,
			Auth: parse([]string{"10 1 5060 sip1.example.com.", "10 1 5060 sip2.example.com."}), Got: parse(got), Up: up})
	}
}

func startTLS(state, err string) func(*testing.T) []Finding {
	return func(*testing.T) []Finding {
		return CheckStartTLS(StartTLS{Name: "_xmpp-client._tcp.example.com.", Target: "xmpp1.example.com.", Address: "192.0.2.3:5222", State: state, Err: err})
	}
}

func TestRules(t *testing.T) {
	for _, c := range ruleCases {
		verb := "does not fire"
		if c.fire {
			verb = "fires"
		}
		t.Run(c.code+"/"+verb+"/"+c.name, func(t *testing.T) {
			fs := c.run(t)
			i := slices.IndexFunc(fs, func(f Finding) bool { return f.Code == c.code })
			switch {
			case c.fire && i < 0:
				t.Fatalf("%s did not fire; findings:\n%s", c.code, list(fs))
			case !c.fire && i >= 0:
				t.Fatalf("%s fired: %s", c.code, fs[i])
			case c.fire:
				f := fs[i]
				r, _ := RuleFor(c.code)
				if f.Severity != r.Severity || f.Message == "" || f.Name == "" {
					t.Errorf("finding %+v: want severity %v, a name and a message", f, r.Severity)
				}
				if c.line != 0 && f.Line != c.line {
					t.Errorf("finding on line %d, want %d: %s", f.Line, c.line, f)
				}
			}
		})
	}
}

// Every rule has a case that fires it and one that does not.
func TestEveryRuleHasCases(t *testing.T) {
	for _, r := range Rules() {
		var fire, quiet bool
		for _, c := range ruleCases {
			if c.code == r.Code {
				fire, quiet = fire || c.fire, quiet || !c.fire
			}
		}
		if !fire || !quiet {
			t.Errorf("rule %s: a case that fires it: %v, one that does not: %v", r.Code, fire, quiet)
		}
	}
}

func TestRulesRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.Code] {
			t.Errorf("code %s twice", r.Code)
		}
		seen[r.Code] = true
		if r.Severity < Info || r.Severity > Error || r.Summary == "" {
			t.Errorf("rule %+v: want a severity and a summary", r)
		}
		if strings.ToLower(r.Code) != r.Code || strings.ContainsAny(r.Code, " _") {
			t.Errorf("code %q: want lower-case words joined by hyphens", r.Code)
		}
	}
	if _, ok := RuleFor("no-such-rule"); ok {
		t.Error("RuleFor found a rule that does not exist")
	}
}

// The clean zone, with every kind of service, sets off nothing at all.
func TestCleanZone(t *testing.T) {
	if fs := zoneFindings(t, zoneHead+cleanServices); len(fs) != 0 {
		t.Errorf("findings in a clean zone:\n%s", list(fs))
	}
}

func list(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}

// Service labels registered with IANA (RFC 6335) are services of their own, however close their names
// are to sip or xmpp: a printer's DNS-SD records, ssh, smb, ftp, ntp, rdp, smtp. Issue 24 item 12.
func TestLookalikeRegisteredServices(t *testing.T) {
	for _, label := range []string{"_ipp._tcp", "_ipps._tcp", "_ssh._tcp", "_smb._tcp", "_ftp._tcp", "_ntp._udp", "_rdp._tcp",
		"_smtp._tcp", "_sip._sctp", "_sips._sctp", "_stun._udp", "_turns._tcp", "_xmpp-bosh._tcp", "_sftp-ssh._tcp", "_pdl-datastream._tcp"} {
		fs := zoneFindings(t, zoneHead+cleanServices+label+" IN SRV 0 1 631 sip1\n")
		for _, f := range fs {
			if f.Code == CodeLookalikeLabel {
				t.Errorf("%s: %s", label, f)
			}
		}
	}
	// Not registered, or registered for another transport: still a lookalike.
	for _, label := range []string{"_xmpp_client._tcp", "_sips._tls", "sip._udp", "_xmpp-clinet._tcp", "_sip._tpc", "_sipp._udp"} {
		fs := zoneFindings(t, zoneHead+cleanServices+label+" IN SRV 0 1 5060 sip1\n")
		if !slices.ContainsFunc(fs, func(f Finding) bool { return f.Code == CodeLookalikeLabel }) {
			t.Errorf("%s: no lookalike-label", label)
		}
	}
}
