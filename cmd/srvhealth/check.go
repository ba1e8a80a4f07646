package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/lint"
	"github.com/srvhealth/srvhealth/probe"
)

// options are the flags of srvhealth check.
type options struct {
	resolver string        // HOST[:PORT]; empty: the first of /etc/resolv.conf
	port     int           // the authoritative servers' port
	servers  []string      // --server HOST[:PORT], each also asked and compared
	zones    []string      // --zone FILE, linted offline
	corefile string        // --corefile FILE: its drains are checked against the records
	origin   string        // the zone of a file without $ORIGIN
	timeout  time.Duration // bounds each DNS question and each probe
	parallel int           // DNS questions and probes in flight at once
	json     bool
	noProbe  bool
	caFile   string // PEM roots to verify certificates against instead of the system's
	certDays int
	family   family
	domains  []string
}

const checkUsage = `usage: srvhealth check [flags] DOMAIN...
       srvhealth check [flags] --zone FILE [--origin ZONE]

For each DOMAIN: find its authoritative servers (NS through the resolver), ask each of them directly for
every SIP and XMPP SRV label and the domain's NAPTR records, report where they disagree, resolve every
target, probe every address of every target with the service's own protocol (SIP OPTIONS, the XMPP
stream and STARTTLS, TLS with its certificate) and lint it all. With --zone, lint a zone file offline
with the same rules plus what only the file shows.

Certificates are verified (chain against the system's roots or --ca, and the service domain's name): a
bad one is a finding, not a dead target. The srvhealth plugin verifies them only with tls_verify in its
block; without it, a target with such a certificate stays up there.

Exit status: 0 ok, 1 warnings, 2 errors or an unreachable service, 3 the check could not run (no
authoritative server answers, a --server does not...). Over several domains and files the worst wins in
the order 2, 3, 1, 0: an error anywhere is 2 even when another domain could not be checked.

flags:
`

// parseCheck parses the flags of check, which may come before, between or after the domains.
func parseCheck(args []string, stderr io.Writer) (*options, error) {
	o := &options{port: 53, timeout: 3 * time.Second, parallel: 64, certDays: lint.CertDays}
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, checkUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.resolver, "resolver", "", "resolver `HOST[:PORT]` that finds the zone and its servers (default: the first in /etc/resolv.conf)")
	fs.IntVar(&o.port, "port", o.port, "`PORT` the authoritative servers are asked on")
	fs.Func("server", "also ask this DNS server `HOST[:PORT]` (a CoreDNS with srvhealth, a resolver) and compare its answers; repeatable", func(s string) error {
		o.servers = append(o.servers, s)
		return nil
	})
	fs.Func("zone", "lint this zone `FILE` offline; repeatable", func(s string) error {
		o.zones = append(o.zones, s)
		return nil
	})
	fs.StringVar(&o.corefile, "corefile", "", "check the drain lines of this Corefile's srvhealth blocks against the records checked (`FILE`)")
	fs.StringVar(&o.origin, "origin", "", "the `ZONE` of a zone file that has no $ORIGIN")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "bound on each DNS question and each probe")
	fs.IntVar(&o.parallel, "parallel", o.parallel, "DNS questions and probes in flight at once")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON (schema: cmd/srvhealth/schema.json)")
	fs.BoolVar(&o.noProbe, "no-probe", false, "ask DNS and lint, but contact no target")
	fs.StringVar(&o.caFile, "ca", "", "verify certificates against the roots in this PEM `FILE` instead of the system's")
	fs.IntVar(&o.certDays, "cert-days", o.certDays, "report certificates expiring within this many `DAYS`")
	v4 := fs.Bool("4", false, "use IPv4 only")
	v6 := fs.Bool("6", false, "use IPv6 only")
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		o.domains = append(o.domains, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(o.domains) == 0 && len(o.zones) == 0 && o.corefile == "":
		return nil, errors.New("no domain and no --zone to check")
	case o.timeout <= 0:
		return nil, errors.New("--timeout must be positive")
	case o.parallel < 1:
		return nil, errors.New("--parallel must be at least 1")
	case o.port < 1 || o.port > 65535:
		return nil, errors.New("--port must be between 1 and 65535")
	case o.certDays < 0:
		return nil, errors.New("--cert-days must not be negative")
	case *v4 && *v6:
		return nil, errors.New("-4 and -6 exclude each other")
	case *v4:
		o.family = only4
	case *v6:
		o.family = only6
	}
	for _, d := range o.domains {
		if _, ok := dnsName(d); !ok {
			return nil, fmt.Errorf("%q is not a domain name", d)
		}
	}
	return o, nil
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	o, err := parseCheck(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "srvhealth check: %v\n", err)
		return exitUnknown
	}
	c, err := newChecker(o)
	if err != nil {
		fmt.Fprintf(stderr, "srvhealth check: %v\n", err)
		return exitUnknown
	}
	rep := c.run(context.Background())
	if o.json {
		err = writeJSON(stdout, rep)
	} else {
		err = writeTable(stdout, rep)
	}
	if err != nil {
		fmt.Fprintf(stderr, "srvhealth check: %v\n", err)
		return exitUnknown
	}
	for _, ck := range rep.Checks {
		if ck.Error != "" {
			name := ck.Domain
			if ck.File != "" {
				name = ck.File
			}
			fmt.Fprintf(stderr, "srvhealth check: %s: %s\n", name, ck.Error)
		}
	}
	return rep.ExitCode
}

// checker runs the checks of one invocation.
type checker struct {
	opts      *options
	dns       *dnsClient
	resolver  string // host:port; empty until a domain needs it
	servers   []string
	roots     *x509.CertPool // nil: the system's
	probeOpts probe.Options
	now       func() time.Time
	// truth holds the SRV records of each --zone file by its zone: what a domain in that zone must
	// serve, whatever an authoritative server's srvhealth lets through.
	truth map[string]zoneTruth
}

// zoneTruth is the SRV records of a zone file, by owner in lower case.
type zoneTruth struct {
	file string
	srv  map[string][]*dns.SRV
}

func newChecker(o *options) (*checker, error) {
	c := &checker{
		opts:      o,
		dns:       &dnsClient{timeout: o.timeout, slots: make(chan struct{}, o.parallel)},
		probeOpts: probe.Options{Details: true}, // verification is a finding, not a failed probe
		now:       time.Now,
	}
	if len(o.domains) > 0 {
		var err error
		if o.resolver != "" {
			c.resolver, err = hostPort(o.resolver, 53)
		} else {
			c.resolver, err = systemResolver("/etc/resolv.conf")
		}
		if err != nil {
			return nil, fmt.Errorf("--resolver: %v", err)
		}
	}
	for _, s := range o.servers {
		hp, err := hostPort(s, 53)
		if err != nil {
			return nil, fmt.Errorf("--server %q: %v", s, err)
		}
		c.servers = append(c.servers, hp)
	}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %v", err)
		}
		c.roots = x509.NewCertPool()
		if !c.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca: no certificate in %s", o.caFile)
		}
	}
	return c, nil
}

// run checks every zone file, then every domain, and sums up.
func (c *checker) run(ctx context.Context) *Report {
	rep := &Report{Version: reportVersion, Checks: []Check{}}
	for _, f := range c.opts.zones {
		rep.Checks = append(rep.Checks, c.checkZoneFile(f))
	}
	for _, d := range c.opts.domains {
		rep.Checks = append(rep.Checks, c.checkDomain(ctx, d))
	}
	if c.opts.corefile != "" {
		rep.Checks = append(rep.Checks, checkCorefile(c.opts.corefile, rep.Checks))
	}
	var all []lint.Finding
	failed := false
	for _, ck := range rep.Checks {
		all = append(all, ck.Findings...)
		failed = failed || ck.Error != ""
	}
	for _, f := range all {
		switch f.Severity {
		case lint.Error:
			rep.Counts.Errors++
		case lint.Warning:
			rep.Counts.Warnings++
		default:
			rep.Counts.Info++
		}
	}
	// The monitoring-plugin order: CRITICAL over UNKNOWN over WARNING. A domain that could not be
	// checked does not hide another's error, and a warning does not hide that something went unchecked.
	switch worst := lint.Worst(all); {
	case worst == lint.Error:
		rep.Status, rep.ExitCode = "critical", exitCritical
	case failed:
		rep.Status, rep.ExitCode = "unknown", exitUnknown
	case worst == lint.Warning:
		rep.Status, rep.ExitCode = "warning", exitWarning
	default:
		rep.Status, rep.ExitCode = "ok", exitOK
	}
	return rep
}

func newCheck() Check {
	return Check{Servers: []ServerReport{}, Records: []RecordReport{}, Targets: []TargetReport{}, Probes: []ProbeReport{},
		Findings: []lint.Finding{}, Skipped: []string{}}
}

// checkZoneFile lints a zone file: no network.
func (c *checker) checkZoneFile(path string) (ck Check) {
	start := time.Now()
	ck = newCheck()
	ck.File = path
	defer func() { ck.DurationMS = ms(time.Since(start)) }()
	f, err := os.Open(path)
	if err != nil {
		ck.Error = err.Error()
		return ck
	}
	defer f.Close()
	z, err := lint.ParseZone(f, c.opts.origin, path)
	if err != nil {
		ck.Error = err.Error()
		return ck
	}
	ck.Zone = z.Origin
	truth := zoneTruth{file: path, srv: map[string][]*dns.SRV{}}
	for _, r := range z.Records {
		if s, ok := r.RR.(*dns.SRV); ok {
			o := strings.ToLower(s.Hdr.Name)
			truth.srv[o] = append(truth.srv[o], s)
		}
	}
	if c.truth == nil {
		c.truth = map[string]zoneTruth{}
	}
	c.truth[z.Origin] = truth
	for _, r := range z.Records {
		if rec, ok := recordReport(r.RR); ok {
			rec.Line = r.Line
			ck.Records = append(ck.Records, rec)
		}
	}
	ck.Findings = z.Check()
	lint.Sort(ck.Findings)
	slices.SortStableFunc(ck.Findings, func(a, b lint.Finding) int { return a.Line - b.Line })
	return ck
}

// dnsName reports whether s can be a domain name, and returns it fully qualified in lower case.
func dnsName(s string) (string, bool) {
	if s == "" || strings.ContainsAny(s, " \t/:@") {
		return "", false
	}
	n := dns.Fqdn(strings.ToLower(s))
	_, ok := dns.IsDomainName(n)
	return n, ok
}
