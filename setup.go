package srvhealth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/dnssec"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/fleet"
	"github.com/srvhealth/srvhealth/probe"
)

const pluginName = "srvhealth"

var log = clog.NewWithPlugin(pluginName)

func init() {
	plugin.Register(pluginName, setup)
	// CoreDNS refuses every class but IN unless a plugin it lists in EnableChaos is in the block. Only the
	// status answers CH, so srvhealth is not listed: a block with status gets the chaosGate, which is.
	dnsserver.EnableChaos[chaosGateName] = struct{}{}
}

// chaosGateName is the name of the chaosGate, as EnableChaos lists it.
const chaosGateName = pluginName + "_status"

// chaosGate opens CH class queries on the server for a block with status: CoreDNS decides that by the
// names of the block's plugins, and srvhealth must keep its own name. It only passes queries on to
// srvhealth, which answers the status names and refuses the other CH questions unless another plugin of
// the block answers them (see serveOtherClass).
type chaosGate struct{ next plugin.Handler }

func (g chaosGate) Name() string { return chaosGateName }

func (g chaosGate) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	return g.next.ServeDNS(ctx, w, r)
}

// DirectiveOrder returns the stock CoreDNS directive order with srvhealth inserted right before cache, the
// place it must have: see the README's "Position in the chain".
func DirectiveOrder(stock []string) []string {
	out := make([]string, 0, len(stock)+1)
	for _, d := range stock {
		if d == "cache" {
			out = append(out, pluginName)
		}
		if d != pluginName {
			out = append(out, d)
		}
	}
	return out
}

// fleetKey is the key, in a caddy instance's storage, of the fleet its first block with one names.
type fleetKey struct{}

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	if cfg.Fleet != nil {
		// One process is one member: blocks naming two fleets would take the member from each other.
		if prev, ok := c.Get(fleetKey{}).(*fleet.Config); ok && !prev.Equal(*cfg.Fleet) {
			return plugin.Error(pluginName, c.Errf("fleet: another server block names another fleet (%s); one CoreDNS is a member of one fleet, so every block names the same fleet, fleet_key and fleet_probers", prev.Bind))
		}
		c.Set(fleetKey{}, cfg.Fleet)
	}
	h, err := newHandler(cfg)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	h.hook(c)

	config := dnsserver.GetConfig(c)
	h.block = config
	if cfg.StatusAllow != nil {
		config.AddPlugin(func(next plugin.Handler) plugin.Handler { return chaosGate{next: next} })
	}
	config.AddPlugin(func(next plugin.Handler) plugin.Handler {
		h.Next = next
		// The chain is built from its end, so a dnssec plugin after srvhealth is registered by now.
		if d, ok := config.Handler("dnssec").(dnssec.Dnssec); ok {
			h.signer = &d
			_, h.signsNext = next.(dnssec.Dnssec)
		}
		// minimal (after srvhealth in the directive order) empties the additional section on purpose:
		// srvhealth, which sees the answer after it, must not fill it again.
		h.minimal = config.Handler("minimal") != nil
		return h
	})
	return nil
}

// serviceRE is the shape of a service label: "_name._proto" (RFC 2782, RFC 6335 service names).
var serviceRE = regexp.MustCompile(`^_[a-z0-9]([a-z0-9-]*[a-z0-9])?\._[a-z0-9]([a-z0-9-]*[a-z0-9])?\.?$`)

// parse reads one srvhealth block. Every error names the property and, through the dispenser, the file
// and line.
func parse(c *caddy.Controller) (*Config, error) {
	var cfg *Config
	i := 0
	for c.Next() {
		if i > 0 {
			return nil, plugin.ErrOnce
		}
		i++
		cfg = newConfig(plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys))
		pend := &serviceLines{probes: map[string]probe.Kind{}, allDown: map[string]Policy{}, unprobed: map[string]error{}}
		seen := map[string]bool{}
		for c.NextBlock() {
			prop := c.Val()
			if seen[prop] && prop != "probe" && prop != "all_down" {
				return nil, c.Errf("%s: property given twice", prop)
			}
			seen[prop] = true
			args := c.RemainingArgs()
			if err := parseProperty(c, cfg, prop, args, pend); err != nil {
				return nil, err
			}
		}
		if err := finish(c, cfg, pend); err != nil {
			return nil, err
		}
	}
	if cfg == nil {
		return nil, c.ArgErr()
	}
	return cfg, nil
}

// serviceLines holds the per-service lines of a block, which may come before or after "services"; finish
// applies them once every line is read.
type serviceLines struct {
	probes   map[string]probe.Kind // service label -> kind of its probe line
	allDown  map[string]Policy     // service label ("" for every service) -> policy of its all_down line
	unprobed map[string]error      // services with no natural probe, with the error at their services line
}

func parseProperty(c *caddy.Controller, cfg *Config, prop string, args []string, pend *serviceLines) error {
	want := func(n int, what string) error {
		if len(args) != n {
			return c.Errf("%s: want %s, got %d argument(s)", prop, what, len(args))
		}
		return nil
	}
	switch prop {
	case "services":
		if len(args) == 0 {
			return c.Errf("services: want at least one _service._proto label")
		}
		cfg.Services = cfg.Services[:0]
		for _, a := range args {
			l, err := serviceLabel(a)
			if err != nil {
				return c.Errf("services: %v", err)
			}
			if cfg.service(l) != nil {
				return c.Errf("services: %s listed twice", a)
			}
			// A service with no natural probe (SIP over SCTP, XMPP over UDP) is an error unless a probe line
			// says how to check it; finish reports it.
			m, err := probe.ForService(l, "")
			cfg.Services = append(cfg.Services, Service{Label: l, Method: m})
			if err != nil {
				pend.unprobed[l] = c.Errf("services: %s: %v", a, err)
			}
		}
	case "probe":
		if err := want(2, "SERVICE KIND"); err != nil {
			return err
		}
		l, err := serviceLabel(args[0])
		if err != nil {
			return c.Errf("probe: %v", err)
		}
		if _, dup := pend.probes[l]; dup {
			return c.Errf("probe: %s given twice", args[0])
		}
		k := probe.Kind(args[1])
		if _, err := probe.ForService(l, k); err != nil {
			return c.Errf("probe: %v", err)
		}
		pend.probes[l] = k
	case "interval", "timeout", "max_ttl", "min_ttl", "expire":
		if err := want(1, "a duration"); err != nil {
			return err
		}
		d, err := time.ParseDuration(args[0])
		if err != nil || d <= 0 {
			return c.Errf("%s: %q is not a positive duration (e.g. 10s)", prop, args[0])
		}
		switch prop {
		case "interval":
			cfg.Interval = d
		case "timeout":
			cfg.Timeout = d
		case "max_ttl":
			cfg.MaxTTL = d
		case "min_ttl":
			cfg.MinTTL = d
		case "expire":
			cfg.Expire = d
		}
	case "fails", "rises", "max_targets", "max_in_flight", "max_per_server":
		if err := want(1, "a positive integer"); err != nil {
			return err
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n <= 0 {
			return c.Errf("%s: %q is not a positive integer", prop, args[0])
		}
		switch prop {
		case "fails":
			cfg.Fails = n
		case "rises":
			cfg.Rises = n
		case "max_targets":
			cfg.MaxTargets = n
		case "max_in_flight":
			cfg.MaxInFlight = n
		case "max_per_server":
			cfg.MaxPerServer = n
		}
	case "all_down":
		if len(args) != 1 && len(args) != 2 {
			return c.Errf("all_down: want [SERVICE] serve_all|nodata|servfail|unavailable, got %d argument(s)", len(args))
		}
		p, ok := parsePolicy(args[len(args)-1])
		if !ok {
			return c.Errf("all_down: unknown policy %q, want serve_all, nodata, servfail or unavailable", args[len(args)-1])
		}
		key := ""
		if len(args) == 2 {
			l, err := serviceLabel(args[0])
			if err != nil {
				return c.Errf("all_down: %v", err)
			}
			key = l
		}
		if _, dup := pend.allDown[key]; dup {
			if key == "" {
				return c.Errf("all_down: the policy for every service given twice")
			}
			return c.Errf("all_down: the policy for %s given twice", args[0])
		}
		pend.allDown[key] = p
	case "cname", "no_address":
		if err := want(1, "drop or keep"); err != nil {
			return err
		}
		var drop bool
		switch args[0] {
		case "drop":
			drop = true
		case "keep":
		default:
			return c.Errf("%s: unknown action %q, want drop or keep", prop, args[0])
		}
		if prop == "cname" {
			cfg.DropCNAME = drop
		} else {
			cfg.DropNoAddr = drop
		}
	case "scope":
		if len(args) == 0 {
			return c.Errf("scope: want zones, any or one or more CIDRs")
		}
		if len(args) == 1 && (args[0] == "zones" || args[0] == "any") {
			cfg.Scope = Scope{Any: args[0] == "any"}
			return nil
		}
		cfg.Scope = Scope{}
		for _, a := range args {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				return c.Errf("scope: %q is not a CIDR (and zones or any stand alone)", a)
			}
			if p, err = unmapPrefix(p); err != nil {
				return c.Errf("scope: %q %v", a, err)
			}
			cfg.Scope.Prefixes = append(cfg.Scope.Prefixes, p)
		}
	case "warm":
		if len(args) == 0 {
			return c.Errf("warm: want at least one SRV name")
		}
		for _, a := range args {
			n := strings.ToLower(plugin.Name(a).Normalize())
			if _, err := serviceLabel(firstTwoLabels(n)); err != nil {
				return c.Errf("warm: %q is not an SRV name (_service._proto.domain)", a)
			}
			cfg.Warm = append(cfg.Warm, n)
		}
	case "status":
		cfg.StatusAllow = defaultStatusAllow
		if len(args) > 0 {
			cfg.StatusAllow = nil
		}
		for _, a := range args {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				return c.Errf("status: %q is not a CIDR of the clients allowed to ask", a)
			}
			if p, err = unmapPrefix(p); err != nil {
				return c.Errf("status: %q %v", a, err)
			}
			cfg.StatusAllow = append(cfg.StatusAllow, p)
		}
	case "filter_addresses":
		if err := want(0, "no arguments"); err != nil {
			return err
		}
		cfg.FilterAddresses = true
	case "shadow":
		if err := want(0, "no arguments"); err != nil {
			return err
		}
		cfg.Shadow = true
	case "drain":
		if len(args) == 0 {
			return c.Errf("drain: want at least one TARGET or TARGET:PORT")
		}
		for _, a := range args {
			d, err := parseDrain(a)
			if err != nil {
				return c.Errf("drain: %v", err)
			}
			cfg.Drains = append(cfg.Drains, d)
		}
	case "sip_fail_codes":
		if len(args) == 0 {
			return c.Errf("sip_fail_codes: want one or more final SIP status codes (200-699)")
		}
		cfg.SIPFailCodes = []int{}
		for _, a := range args {
			n, err := strconv.Atoi(a)
			if err != nil || n < 200 || n > 699 {
				return c.Errf("sip_fail_codes: %q is not a final SIP status code (200-699)", a)
			}
			cfg.SIPFailCodes = append(cfg.SIPFailCodes, n)
		}
		cfg.Probe.SIPAccept = probe.SIPAcceptExcept(cfg.SIPFailCodes)
	case "tls_verify":
		if len(args) > 1 {
			return c.Errf("tls_verify: want at most one CA file, got %d arguments", len(args))
		}
		cfg.TLSVerify, cfg.Probe.TLSVerify = true, true
		if len(args) == 1 {
			// Read now, so that a missing or bad file is reported with the Corefile line that names it.
			pem, err := os.ReadFile(args[0])
			if err != nil {
				return c.Errf("tls_verify: CA file: %v", err)
			}
			cfg.CAFile = args[0]
			cfg.Probe.RootCAs = x509.NewCertPool()
			if !cfg.Probe.RootCAs.AppendCertsFromPEM(pem) {
				return c.Errf("tls_verify: no PEM certificate in CA file %s", args[0])
			}
		}
	case "fleet":
		if len(args) == 0 {
			return c.Errf("fleet: want ADDR:PORT to gossip on, then the peers (HOST:PORT or a DNS name)")
		}
		bind, err := netip.ParseAddrPort(args[0])
		if err != nil || bind.Port() == 0 {
			return c.Errf("fleet: %q is not ADDR:PORT (an IP address and a port, e.g. 0.0.0.0:7946)", args[0])
		}
		f := fleetConfig(cfg)
		f.Bind = netip.AddrPortFrom(bind.Addr().Unmap(), bind.Port())
		for _, p := range args[1:] {
			host, port, err := net.SplitHostPort(p)
			if err != nil {
				host, port = p, ""
			}
			if _, ok := dns.IsDomainName(host); !ok || host == "" {
				return c.Errf("fleet: peer %q is not HOST:PORT or a DNS name", p)
			}
			if n, err := strconv.Atoi(port); port != "" && (err != nil || n <= 0 || n > 65535) {
				return c.Errf("fleet: peer %q has no valid port", p)
			}
			f.Peers = append(f.Peers, p)
		}
	case "fleet_key":
		if err := want(1, "a key FILE"); err != nil {
			return err
		}
		b, err := os.ReadFile(args[0])
		if err != nil {
			return c.Errf("fleet_key: %v", err)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return c.Errf("fleet_key: %s does not hold a base64 key: %v", args[0], err)
		}
		if n := len(key); n != 16 && n != 24 && n != 32 {
			return c.Errf("fleet_key: %s holds a key of %d octets, want 16, 24 or 32 (AES-128, -192, -256)", args[0], n)
		}
		fleetConfig(cfg).Key = key
		cfg.FleetKeyFile = args[0]
	case "fleet_probers":
		if err := want(1, "a positive integer"); err != nil {
			return err
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n <= 0 {
			return c.Errf("fleet_probers: %q is not a positive integer", args[0])
		}
		fleetConfig(cfg).Probers = n
	default:
		return c.Errf("unknown property %q", prop)
	}
	return nil
}

// fleetConfig returns cfg's fleet, made on the first fleet line, whichever comes first.
func fleetConfig(cfg *Config) *fleet.Config {
	if cfg.Fleet == nil {
		cfg.Fleet = &fleet.Config{Probers: fleet.DefaultProbers}
	}
	return cfg.Fleet
}

// finish applies the per-service settings, which may come before or after "services", and checks the
// settings that only make sense together.
func finish(c *caddy.Controller, cfg *Config, pend *serviceLines) error {
	if p, ok := pend.allDown[""]; ok {
		for i := range cfg.Services {
			cfg.Services[i].AllDown = p
		}
	}
	for l, p := range pend.allDown {
		if l == "" {
			continue
		}
		s := cfg.service(l)
		if s == nil {
			return c.Errf("all_down: service %s is not in services", l)
		}
		s.AllDown = p
	}
	for l, k := range pend.probes {
		s := cfg.service(l)
		if s == nil {
			return c.Errf("probe: service %s is not in services", l)
		}
		s.Method, _ = probe.ForService(l, k) // checked when the line was read
		delete(pend.unprobed, l)
	}
	for _, s := range cfg.Services {
		if err := pend.unprobed[s.Label]; err != nil {
			return err
		}
	}
	for _, n := range cfg.Warm {
		if cfg.match(n) == nil {
			return c.Errf("warm: %s is not a configured service under this block's zones", n)
		}
	}
	if cfg.Timeout >= cfg.Interval {
		return c.Errf("timeout: %s must be below interval %s", cfg.Timeout, cfg.Interval)
	}
	if cfg.MinTTL > cfg.MaxTTL {
		return c.Errf("min_ttl: %s must not be above max_ttl %s", cfg.MinTTL, cfg.MaxTTL)
	}
	if cfg.MaxTTL < time.Second {
		return c.Errf("max_ttl: %s is below one second, the smallest TTL", cfg.MaxTTL)
	}
	if cfg.MinTTL < time.Second {
		return c.Errf("min_ttl: %s is below one second, the smallest TTL (a TTL of 0 is not cached at all)", cfg.MinTTL)
	}
	if !cfg.Scope.Any && len(cfg.Scope.Prefixes) == 0 && slices.Contains(cfg.Zones, ".") {
		// Under the root zone every target of every domain is "in the zones": whoever can query the
		// server could publish SRV records and have it probe any host and port for them.
		return c.Errf("scope: with the root zone . the default scope zones would probe any host on the internet; list the CIDRs of your SIP/XMPP servers (scope 192.0.2.0/24 ...) or say scope any")
	}
	if cfg.Expire < cfg.Interval {
		return c.Errf("expire: %s must not be below interval %s", cfg.Expire, cfg.Interval)
	}
	if f := cfg.Fleet; f != nil {
		if !f.Bind.IsValid() {
			return c.Errf("fleet_key, fleet_probers: no fleet line says where to gossip (fleet ADDR:PORT [PEER...])")
		}
		if f.Key == nil && !f.Bind.Addr().IsLoopback() {
			// Whoever can send gossip to the port could otherwise write health state.
			return c.Errf("fleet: %s is not a loopback address; fleet_key is required to gossip on it", f.Bind)
		}
	}
	return nil
}

// unmapPrefix returns p masked, and an IPv4-mapped prefix as the IPv4 prefix it means: addresses (probed
// ones and status clients alike) are compared unmapped, so a mapped prefix kept as it is would match
// nothing. One shorter than the ::ffff:0:0/96 block itself means no IPv4 prefix and is an error.
func unmapPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.Addr().Is4In6() {
		return p.Masked(), nil
	}
	if p.Bits() < 96 {
		return netip.Prefix{}, fmt.Errorf("covers more than the IPv4-mapped block ::ffff:0:0/96; write the IPv4 CIDR")
	}
	return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked(), nil
}

// serviceLabel checks that s looks like "_name._proto" and returns it lower-cased with a trailing dot.
func serviceLabel(s string) (string, error) {
	l := strings.ToLower(s)
	if !serviceRE.MatchString(l) {
		return "", fmt.Errorf("%q is not a service label of the form _name._proto (e.g. _sip._tcp)", s)
	}
	if !strings.HasSuffix(l, ".") {
		l += "."
	}
	return l, nil
}

// firstTwoLabels returns "_sip._tcp." of "_sip._tcp.example.com.", or "" when name has fewer labels.
func firstTwoLabels(name string) string {
	i := strings.IndexByte(name, '.')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(name[i+1:], '.')
	if j < 0 {
		return ""
	}
	return name[:i+1+j+1]
}
