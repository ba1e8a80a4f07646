// Package health keeps the up/down state of SRV targets fresh by probing them in the background.
//
// The query path reads state through Check (a target seen in an answer) and Addresses (a target's name),
// which never block and never touch the network; Check registers a new target without blocking either. Probing, resolution, expiry and the reload-safe
// process-wide registry of known states live behind Monitor; nothing here imports CoreDNS or logs: what
// happens is reported through Events and the root package turns it into metrics and log lines.
package health

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/srvhealth/srvhealth/probe"
)

// Key identifies one monitored target: the same host on 5060/udp and 5061/tls is two entries. Build it
// with NewKey.
type Key struct {
	Target string // SRV target, lower case, fully qualified (trailing dot)
	Port   uint16
	Method probe.Method
	// Domain is the service domain ("example.com") for methods whose probe tells the server which domain
	// it asks for, and empty for the others; see NewKey.
	Domain string
}

// NewKey returns the key of target:port probed with m for the service domain domain (lower case, no
// trailing dot).
//
// Where the probe carries the domain, the server's answer depends on it: an XMPP server answers a stream
// 'to' a domain it does not host with host-unknown, and a TLS server picks its certificate by SNI and is
// verified against the domain. A server hosting many domains is then up for some and down for others, so
// the domain is part of the key for the XMPP probes and for every probe over TLS. A TCP connect, no probe
// and SIP over UDP or TCP (where any final reply, 404 included, shows a working server) do not depend on
// it, and their key leaves it out, so a target shared by many domains is probed once.
func NewKey(target string, port uint16, m probe.Method, domain string) Key {
	k := Key{Target: strings.ToLower(target), Port: port, Method: m}
	switch {
	case m.Kind == probe.KindXMPPClient, m.Kind == probe.KindXMPPServer, m.Kind == probe.KindTLS, m.Transport == probe.TLS:
		k.Domain = domain
	}
	return k
}

// State is the hysteresis state of a target or address.
type State uint8

// The states. Unknown (never probed) counts as up for serving.
const (
	Unknown State = iota
	Up
	Down
)

// String returns "up", "down" or "unknown", as logs and the status say it.
func (s State) String() string {
	switch s {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return "unknown"
}

// Resolution is what resolving a target through CoreDNS told us.
type Resolution struct {
	CNAME bool         // the target name is an alias (forbidden for SRV targets, RFC 2782)
	Addrs []netip.Addr // A and AAAA addresses; empty means the target has no address
	TTL   uint32       // the lowest TTL of the address records; 0 without any
}

// Resolver resolves a target name to its addresses the way clients would see them.
type Resolver interface {
	Resolve(ctx context.Context, name string) (Resolution, error)
}

// Status is what the query path needs to know about one target.
type Status struct {
	State     State
	CNAME     bool
	NoAddress bool
	Resolved  bool         // the target has been resolved at least once (CNAME/NoAddress are meaningful)
	Up        []netip.Addr // addresses whose last state is up or unknown, sorted; shared, do not modify
	Down      []netip.Addr // addresses known to be down, sorted; shared, do not modify
	// Until is the soonest time the target's state could change, given the probe interval and the
	// checks still needed to flip (gdnsd's model): Checked + Interval x checks. Before the first round it
	// is the time of that round. Zero when probing cannot change the state (no address in scope).
	Until time.Time
	// Checked is when the last probe round of the target started; zero before the first.
	Checked time.Time
	// AddrTTL is the lowest TTL of the target's address records when they were resolved: addresses the
	// query path adds to an answer must not live longer than their source says. Meaningful once Resolved.
	AddrTTL uint32
}

// Config is the monitor's settings; see the Corefile documentation. A zero field takes the default named
// beside it.
type Config struct {
	Interval    time.Duration // between two rounds of one target; default 10s
	Timeout     time.Duration // bounds each resolution and each probe; default 2s
	Fails       int           // consecutive failures that mark an address down; default 3
	Rises       int           // consecutive successes that mark a down address up; default 2
	Expire      time.Duration // a target not observed for this long is forgotten; default 10m
	MaxTargets  int           // the table never holds more targets; default 10000
	MaxInFlight int           // probes in flight at once; default 1024, a quarter of them for down targets
	// MaxAddrs bounds the addresses probed per target and round; default 4. They are the lowest in-scope
	// addresses of each family in sorted order, half of them IPv4 and half IPv6 where both are there, so
	// that the same ones are probed every round whatever order the backend answers in and a dead family is
	// never served for want of a probe; the others are listed as unknown in Status.Up and do not count for
	// the target's state.
	MaxAddrs int
	// MaxPerServer bounds the probes started against one server (address and port) per Interval, whatever
	// the number of targets and domains that point at it; default 16. Targets seen in one answer only may
	// use a quarter of them, so a flood of names aimed at one server never crowds out the targets clients
	// keep asking for. A probe past the bound is deferred: it is not run and says nothing about the target.
	MaxPerServer int
	// Scope reports whether an address may be contacted; nil allows every address. An address outside it
	// is never probed, and a target none of whose addresses is in scope stays Unknown (served unfiltered),
	// so whoever controls a zone cannot point the server's probes at arbitrary hosts.
	Scope func(netip.Addr) bool
	// Fleet shares the probing of kept targets with other processes; nil: this Monitor probes every target.
	Fleet Sharer
	// Accept reports whether a key the fleet speaks of (Adopt, Want) belongs in this Monitor's table: the
	// block's services and zones. Nil accepts every key.
	Accept func(Key) bool
}

// The defaults of Config.
const (
	DefaultInterval     = 10 * time.Second
	DefaultTimeout      = 2 * time.Second
	DefaultFails        = 3
	DefaultRises        = 2
	DefaultExpire       = 10 * time.Minute
	DefaultMaxTargets   = 10000
	DefaultMaxInFlight  = 1024
	DefaultMaxAddrs     = 4
	DefaultMaxPerServer = 16
)

// withDefaults returns c with every zero (or negative) field set to its default.
func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Fails <= 0 {
		c.Fails = DefaultFails
	}
	if c.Rises <= 0 {
		c.Rises = DefaultRises
	}
	if c.Expire <= 0 {
		c.Expire = DefaultExpire
	}
	if c.MaxTargets <= 0 {
		c.MaxTargets = DefaultMaxTargets
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxAddrs <= 0 {
		c.MaxAddrs = DefaultMaxAddrs
	}
	if c.MaxPerServer <= 0 {
		c.MaxPerServer = DefaultMaxPerServer
	}
	return c
}
