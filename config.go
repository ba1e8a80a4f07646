package srvhealth

import (
	"net/netip"
	"strings"
	"time"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

// Policy is what srvhealth answers when every target of an SRV RRset is dropped.
type Policy uint8

// The all-down policies. The answer decides what clients do next: all targets make them try each one,
// an empty answer makes XMPP clients fall back to the bare domain (RFC 6120 §3.2.1), and a lone "."
// target makes them give up (RFC 2782: "service decidedly not available").
const (
	ServeAll    Policy = iota // serve the records anyway, minus CNAME and no-address targets (fail open)
	NoData                    // NOERROR with an empty answer
	ServFail                  // SERVFAIL
	Unavailable               // a single SRV record with target "."
)

var policyNames = [...]string{ServeAll: "serve_all", NoData: "nodata", ServFail: "servfail", Unavailable: "unavailable"}

func (p Policy) String() string { return policyNames[p] }

func parsePolicy(s string) (Policy, bool) {
	for i, n := range policyNames {
		if n == s {
			return Policy(i), true
		}
	}
	return 0, false
}

// Service is one configured _service._proto pair.
type Service struct {
	Label   string // "_sip._tcp.", lower case, with the trailing dot
	Method  probe.Method
	AllDown Policy
}

// Scope says which targets may be probed; a target outside it is never contacted and is served unfiltered.
type Scope struct {
	Any      bool           // any target
	Prefixes []netip.Prefix // only resolved addresses inside these; empty with Any false means "names under the zones"
}

// Config is a parsed srvhealth block.
type Config struct {
	Zones      []string
	Services   []Service
	Interval   time.Duration
	Timeout    time.Duration
	Fails      int
	Rises      int
	MaxTTL     time.Duration
	MinTTL     time.Duration
	DropCNAME  bool
	DropNoAddr bool
	Scope      Scope
	MaxTargets int
	Expire     time.Duration
	Warm       []string
	TLSVerify  bool
	CAFile     string
	// SIPFailCodes are the final SIP codes that fail a sip probe; nil means probe.DefaultSIPAccept's.
	SIPFailCodes []int
	// MaxInFlight bounds the probes in flight at once; the targets already down may use a quarter.
	MaxInFlight int
}

// The defaults, as documented in the README; the monitor's are the health package's own.
const (
	defaultInterval   = health.DefaultInterval
	defaultTimeout    = health.DefaultTimeout
	defaultFails      = health.DefaultFails
	defaultRises      = health.DefaultRises
	defaultMaxTargets = health.DefaultMaxTargets
	defaultInFlight   = health.DefaultMaxInFlight
	defaultExpire     = health.DefaultExpire
	defaultMaxTTL     = 30 * time.Second
	defaultMinTTL     = 5 * time.Second
)

// defaultServices are the services intercepted when the block names none, in the order they are listed.
var defaultServices = []string{
	"_sip._udp.", "_sip._tcp.", "_sip._tls.", "_sips._tcp.",
	"_xmpp-client._tcp.", "_xmpp-server._tcp.", "_xmpps-client._tcp.", "_xmpps-server._tcp.",
}

func newConfig(zones []string) *Config {
	c := &Config{
		Zones:      zones,
		Interval:   defaultInterval,
		Timeout:    defaultTimeout,
		Fails:      defaultFails,
		Rises:      defaultRises,
		MaxTTL:     defaultMaxTTL,
		MinTTL:     defaultMinTTL,
		DropCNAME:  true,
		DropNoAddr: true,
		MaxTargets: defaultMaxTargets,
		Expire:     defaultExpire,

		MaxInFlight: defaultInFlight,
	}
	for _, l := range defaultServices {
		c.Services = append(c.Services, Service{Label: l, Method: naturalMethod(l)})
	}
	return c
}

// naturalMethod is the probe a service gets unless the Corefile says otherwise: SIP OPTIONS over the
// service's own transport for SIP (RFC 3263: _sips._tcp and _sip._tls are TLS), the stream-header exchange
// for XMPP (over TLS first for the XEP-0368 _xmpps- forms), a TCP connect for any other TCP service, and no
// probe for any other UDP service, where a connect proves nothing.
func naturalMethod(label string) probe.Method {
	name, proto := splitService(label)
	switch name {
	case "_sip", "_sips":
		return methodFor(probe.KindSIP, name, proto)
	case "_xmpp-client", "_xmpps-client":
		return methodFor(probe.KindXMPPClient, name, proto)
	case "_xmpp-server", "_xmpps-server":
		return methodFor(probe.KindXMPPServer, name, proto)
	}
	if proto == "_tcp" {
		return probe.Method{Kind: probe.KindTCP, Transport: probe.TCP}
	}
	return probe.Method{Kind: probe.KindNone}
}

// methodFor returns the method of a probe kind for a service, taking the transport from the service.
func methodFor(kind probe.Kind, name, proto string) probe.Method {
	secure := strings.HasPrefix(name, "_sips") || strings.HasPrefix(name, "_xmpps") || proto == "_tls"
	switch kind {
	case probe.KindNone:
		return probe.Method{Kind: kind}
	case probe.KindTLS:
		return probe.Method{Kind: kind, Transport: probe.TLS}
	case probe.KindTCP:
		return probe.Method{Kind: kind, Transport: probe.TCP}
	}
	switch {
	case secure:
		return probe.Method{Kind: kind, Transport: probe.TLS}
	case proto == "_udp":
		return probe.Method{Kind: kind, Transport: probe.UDP}
	}
	return probe.Method{Kind: kind, Transport: probe.TCP}
}

// splitService splits "_sip._tcp." into "_sip" and "_tcp".
func splitService(label string) (name, proto string) {
	label = strings.TrimSuffix(label, ".")
	name, proto, _ = strings.Cut(label, ".")
	return name, proto
}

func (c *Config) service(label string) *Service {
	for i := range c.Services {
		if c.Services[i].Label == label {
			return &c.Services[i]
		}
	}
	return nil
}
