package srvhealth

import (
	"net/netip"
	"time"

	"github.com/srvhealth/srvhealth/fleet"
	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/policy"
	"github.com/srvhealth/srvhealth/probe"
)

// Policy is what srvhealth answers when every target of an SRV RRset is dropped: the record policy's
// all-down policy, named here as the query path uses it.
type Policy = policy.AllDown

// The all-down policies; see package policy.
const (
	ServeAll    = policy.ServeAll
	NoData      = policy.NoData
	ServFail    = policy.ServFail
	Unavailable = policy.Unavailable
)

func parsePolicy(s string) (Policy, bool) { return policy.ParseAllDown(s) }

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
	Zones    []string
	Services []Service
	Interval time.Duration
	Timeout  time.Duration
	Fails    int
	Rises    int
	MaxTTL   time.Duration
	MinTTL   time.Duration
	// Rules judge each record: the CNAME and no-address rules and the drains (policy.Rules, the record
	// policy srvhealth sync and srvhealth check share).
	policy.Rules
	Scope      Scope
	MaxTargets int
	Expire     time.Duration
	Warm       []string
	// FilterAddresses extends the filtering to the A and AAAA answers of monitored targets.
	FilterAddresses bool
	// Shadow judges, counts and reports every answer as srvhealth would change it, and serves it unchanged.
	Shadow bool
	// StatusAllow are the clients the CH TXT status is answered for; nil: the status is off.
	StatusAllow []netip.Prefix
	TLSVerify   bool
	CAFile      string
	// SIPFailCodes are the final SIP codes that fail a sip probe; nil means probe.DefaultSIPAccept's.
	SIPFailCodes []int
	// Probe is what the probes are built with: certificate verification and its CA pool, the SIP codes
	// that fail; made by the parser from tls_verify and sip_fail_codes.
	Probe probe.Options
	// MaxInFlight bounds the probes in flight at once; the targets already down may use a quarter.
	MaxInFlight int
	// MaxPerServer bounds the probes of one server (address and port) per interval; targets seen once
	// may use a quarter.
	MaxPerServer int
	// Fleet is the fleet the block shares its probing with; nil: none.
	Fleet *fleet.Config
	// FleetKeyFile is the file fleet_key named.
	FleetKeyFile string
}

// The defaults, as documented in the README; the monitor's are the health package's own.
const (
	defaultInterval   = health.DefaultInterval
	defaultTimeout    = health.DefaultTimeout
	defaultFails      = health.DefaultFails
	defaultRises      = health.DefaultRises
	defaultMaxTargets = health.DefaultMaxTargets
	defaultInFlight   = health.DefaultMaxInFlight
	defaultPerServer  = health.DefaultMaxPerServer
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
		Rules:      policy.Rules{DropCNAME: true, DropNoAddr: true},
		MaxTargets: defaultMaxTargets,
		Expire:     defaultExpire,

		MaxInFlight:  defaultInFlight,
		MaxPerServer: defaultPerServer,
	}
	for _, l := range defaultServices {
		m, _ := probe.ForService(l, "") // every default service has a natural probe
		c.Services = append(c.Services, Service{Label: l, Method: m})
	}
	return c
}

func (c *Config) service(label string) *Service {
	for i := range c.Services {
		if c.Services[i].Label == label {
			return &c.Services[i]
		}
	}
	return nil
}

// scopeFunc returns the address filter of the monitor: nil (all) unless the scope lists CIDRs.
func scopeFunc(s Scope) func(netip.Addr) bool {
	if len(s.Prefixes) == 0 {
		return nil
	}
	return func(a netip.Addr) bool { return inPrefixes(s.Prefixes, a) }
}

// inPrefixes reports whether a, IPv4-mapped or not, is inside one of prefixes.
func inPrefixes(prefixes []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
