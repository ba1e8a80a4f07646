// Package health keeps the up/down state of SRV targets fresh by probing them in the background.
//
// The query path reads state through Snapshot/Lookup, which never block and never touch the network;
// targets are registered with Observe, which never blocks either.
package health

import (
	"context"
	"net/netip"
	"time"

	"github.com/srvhealth/srvhealth/probe"
)

// Key identifies one monitored target: the same host on 5060/udp and 5061/tls is two entries.
type Key struct {
	Target string // SRV target, lower case, fully qualified (trailing dot)
	Port   uint16
	Method probe.Method
}

// State is the hysteresis state of a target or address.
type State uint8

// The states. Unknown (never probed) counts as up for serving.
const (
	Unknown State = iota
	Up
	Down
)

// Resolution is what resolving a target through CoreDNS told us.
type Resolution struct {
	CNAME bool         // the target name is an alias (forbidden for SRV targets, RFC 2782)
	Addrs []netip.Addr // A and AAAA addresses; empty means the target has no address
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
	Up        []netip.Addr // addresses whose last state is up or unknown
	Down      []netip.Addr // addresses known to be down
	// Until is the soonest time the target's state could change, given the probe interval and the
	// checks still needed to flip (gdnsd's model); zero if unknown.
	Until time.Time
}

// Config is the monitor's settings; see the Corefile documentation for the defaults.
type Config struct {
	Interval    time.Duration
	Timeout     time.Duration
	Fails       int
	Rises       int
	Expire      time.Duration
	MaxTargets  int
	MaxInFlight int      // probes in flight at once
	MaxAddrs    int      // addresses probed per target
	Options     probe.Options
}
