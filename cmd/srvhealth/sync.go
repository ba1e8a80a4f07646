package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/policy"
	"github.com/srvhealth/srvhealth/probe"
	"github.com/srvhealth/srvhealth/zonesync"
)

// syncOptions are the flags of srvhealth sync.
type syncOptions struct {
	zone     string // the zone file with the desired SRV RRsets
	origin   string
	probes   map[string]probe.Kind // service label ("_sip._tcp.") -> kind
	interval time.Duration
	timeout  time.Duration
	fails    int
	rises    int
	scope    string
	resolver string
	maxTTL   time.Duration
	allDown  policy.AllDown
	dryRun   bool
	metrics  string

	update     string // HOST:PORT of the primary (RFC 2136)
	tsig       string // key file
	route53    string // hosted zone id
	cloudflare string // zone id
}

const syncUsage = `usage: srvhealth sync --zone FILE (--update HOST:PORT [--tsig FILE] | --route53 ZONE_ID | --cloudflare ZONE_ID) [flags]

Keep the SIP and XMPP SRV RRsets of a zone that CoreDNS does not serve equal to what the srvhealth plugin
would answer: read the desired RRsets from the zone file (never written), probe their targets with the
plugin's probes and hysteresis, and write each RRset whose healthy set changed to the zone's real home:
a primary that takes RFC 2136 UPDATE (BIND, Knot, PowerDNS), Route 53 or Cloudflare. Dead, CNAME and
address-less targets are left out; an RRset is never emptied (--all-down); nothing else in the zone is
touched; nothing is written while the healthy set is stable. A change someone else made to a managed RRset
is noticed at the next write (a prerequisite, or a re-read), logged, and overwritten: the file wins.

Route 53 takes its credentials from the AWS SDK's standard chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, ...);
Cloudflare its token from CLOUDFLARE_API_TOKEN (Zone.DNS:Edit). It runs until SIGINT or SIGTERM.

flags:
`

func parseSync(args []string, stderr io.Writer) (*syncOptions, error) {
	o := &syncOptions{probes: map[string]probe.Kind{}, interval: health.DefaultInterval, timeout: health.DefaultTimeout,
		fails: health.DefaultFails, rises: health.DefaultRises, scope: "zones"}
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, syncUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.zone, "zone", "", "the zone `FILE` holding the desired SRV RRsets (read, never written)")
	fs.StringVar(&o.origin, "origin", "", "the `ZONE` of a zone file that has no $ORIGIN")
	fs.Func("probe", "probe `SERVICE=KIND` (_sip._tcp=tcp; kinds none, tcp, tls, sip, xmpp-client, xmpp-server) instead of the service's natural probe, or sync a service srvhealth does not know; repeatable", func(s string) error {
		svc, kind, ok := strings.Cut(s, "=")
		if !ok || !strings.HasPrefix(svc, "_") || strings.Count(strings.TrimSuffix(svc, "."), ".") != 1 {
			return errors.New("want SERVICE=KIND, e.g. _sip._tcp=tcp")
		}
		label := strings.ToLower(dns.Fqdn(svc))
		if _, err := probe.ForService(label, probe.Kind(kind)); err != nil {
			return err
		}
		o.probes[label] = probe.Kind(kind)
		return nil
	})
	fs.DurationVar(&o.interval, "interval", o.interval, "between two probes of a target")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "bounds each probe and resolution (and each provider request, with at least 5s)")
	fs.IntVar(&o.fails, "fails", o.fails, "consecutive failed probes that take a target out")
	fs.IntVar(&o.rises, "rises", o.rises, "consecutive good probes that bring a target back")
	fs.StringVar(&o.scope, "scope", o.scope, "targets that may be probed: zones (names under the zone), any, or `CIDR[,CIDR...]`; a target out of scope is kept unprobed")
	fs.StringVar(&o.resolver, "resolver", "", "resolver `HOST[:PORT]` for the targets' addresses (default: the first in /etc/resolv.conf)")
	fs.DurationVar(&o.maxTTL, "max-ttl", 0, "lower the TTL written to at most this (default: the zone file's TTL)")
	fs.Func("all-down", "what an RRset whose targets are all out becomes: serve_all (every target, the default) or unavailable (the single RFC 2782 \".\" record); nodata and servfail cannot be written and act as serve_all", func(s string) error {
		p, ok := policy.ParseAllDown(s)
		if !ok {
			return errors.New("want serve_all, unavailable, nodata or servfail")
		}
		o.allDown = p
		return nil
	})
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the changes it would make, and make none")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics on `ADDR` (:9153, 127.0.0.1:9253) at /metrics")
	fs.StringVar(&o.update, "update", "", "send RFC 2136 UPDATEs to the zone's primary `HOST:PORT`")
	fs.StringVar(&o.tsig, "tsig", "", "sign the UPDATEs with the TSIG key in `FILE` (as tsig-keygen writes it)")
	fs.StringVar(&o.route53, "route53", "", "write to the Route 53 hosted zone `ZONE_ID`")
	fs.StringVar(&o.cloudflare, "cloudflare", "", "write to the Cloudflare zone `ZONE_ID`")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	providers := 0
	for _, p := range []string{o.update, o.route53, o.cloudflare} {
		if p != "" {
			providers++
		}
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.zone == "":
		return nil, errors.New("--zone FILE is required")
	case providers != 1:
		return nil, errors.New("want exactly one of --update, --route53, --cloudflare")
	case o.tsig != "" && o.update == "":
		return nil, errors.New("--tsig goes with --update")
	case o.interval <= 0, o.timeout <= 0:
		return nil, errors.New("--interval and --timeout must be positive")
	case o.fails < 1, o.rises < 1:
		return nil, errors.New("--fails and --rises must be at least 1")
	case o.maxTTL < 0:
		return nil, errors.New("--max-ttl must not be negative")
	}
	if _, err := parseScope(o.scope); err != nil {
		return nil, fmt.Errorf("--scope: %v", err)
	}
	return o, nil
}

// providerTimeout is the least time a provider request is given, whatever --timeout says.
const providerTimeout = 5 * time.Second

// syncBudget bounds one round of writes: the reads, the writes and Route 53's wait for INSYNC (3 min).
const syncBudget = 5 * time.Minute

// scope is what --scope allows to be probed.
type scope struct {
	any      bool
	prefixes []netip.Prefix // set: only addresses inside these
}

func parseScope(s string) (scope, error) {
	switch s {
	case "zones":
		return scope{}, nil
	case "any":
		return scope{any: true}, nil
	}
	var sc scope
	for _, f := range strings.Split(s, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(f))
		if err != nil {
			return scope{}, fmt.Errorf("%q is not zones, any or a CIDR", f)
		}
		sc.prefixes = append(sc.prefixes, p.Masked())
	}
	return sc, nil
}

func runSync(args []string, stdout, stderr io.Writer) int {
	o, err := parseSync(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "srvhealth sync: %v\n", err)
		return exitUnknown
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := syncMain(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "srvhealth sync: %v\n", err)
		return exitUnknown
	}
	return exitOK
}

// syncMain runs srvhealth sync until ctx ends; an error means it could not start.
func syncMain(ctx context.Context, o *syncOptions, stdout, stderr io.Writer) error {
	logger := log.New(stderr, "", log.LstdFlags|log.Lmicroseconds)
	z, err := readDesired(o)
	if err != nil {
		return err
	}
	resolver := o.resolver
	if resolver == "" {
		resolver, err = systemResolver("/etc/resolv.conf")
	} else {
		resolver, err = hostPort(resolver, 53)
	}
	if err != nil {
		return fmt.Errorf("--resolver: %v", err)
	}
	p, err := newProvider(ctx, o, z)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	m := newSyncMetrics(reg)
	if o.metrics != "" {
		l, err := net.Listen("tcp", o.metrics)
		if err != nil {
			return fmt.Errorf("--metrics: %v", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(l)
		defer srv.Close()
		logger.Printf("metrics on http://%s/metrics", l.Addr())
	}
	if o.allDown == policy.NoData || o.allDown == policy.ServFail {
		logger.Printf("warning: --all-down %s cannot be written to a zone (it is an answer, not records); serve_all it is", o.allDown)
		o.allDown = policy.ServeAll
	}
	s := newSyncer(o, z, p, resolver, m, logger, stdout)
	return s.run(ctx)
}

// newProvider builds the provider the flags name.
func newProvider(ctx context.Context, o *syncOptions, z *desiredZone) (zonesync.Provider, error) {
	names := z.names()
	switch {
	case o.update != "":
		server, err := hostPort(o.update, 53)
		if err != nil {
			return nil, fmt.Errorf("--update: %v", err)
		}
		// Not the probes' timeout: a primary that journals and commits takes its time over an UPDATE (Knot
		// took over 300 ms on a loaded machine), and one that times out here may still be applied there.
		p := &zonesync.RFC2136{Server: server, Zone: z.origin, Names: names, Timeout: max(o.timeout, providerTimeout)}
		if o.tsig != "" {
			k, err := zonesync.ReadTSIGKey(o.tsig)
			if err != nil {
				return nil, fmt.Errorf("--tsig: %v", err)
			}
			p.Key = &k
		}
		return p, nil
	case o.route53 != "":
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1")) // Route 53 is global; its API lives in us-east-1
		if err != nil {
			return nil, fmt.Errorf("--route53: AWS configuration: %v", err)
		}
		// INSYNC is polled every interval, at most every 5 s (Route 53 documents propagation "within 60 s").
		return &zonesync.Route53{API: route53.NewFromConfig(cfg), ZoneID: o.route53, Names: names, Poll: min(o.interval, 5*time.Second)}, nil
	default:
		token := os.Getenv("CLOUDFLARE_API_TOKEN")
		if token == "" {
			return nil, errors.New("--cloudflare: CLOUDFLARE_API_TOKEN is not set")
		}
		return cloudflareProvider(o.cloudflare, token, names), nil
	}
}
