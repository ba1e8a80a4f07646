package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"math"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/policy"
	"github.com/srvhealth/srvhealth/probe"
	"github.com/srvhealth/srvhealth/zonesync"
)

// cloudflareProvider is the Cloudflare provider with the token, and the endpoint in
// CLOUDFLARE_BASE_URL when it is set (as the library's own client reads it).
func cloudflareProvider(zoneID, token string, names []string) zonesync.Provider {
	var opts []option.RequestOption
	if u := os.Getenv("CLOUDFLARE_BASE_URL"); u != "" {
		opts = append(opts, option.WithBaseURL(u))
	}
	return zonesync.NewCloudflare(zoneID, token, names, opts...)
}

// syncResolver resolves targets through a resolver, as a client would: A and AAAA with recursion.
type syncResolver struct {
	dns    *dnsClient
	server string
}

func (r syncResolver) Resolve(ctx context.Context, name string) (health.Resolution, error) {
	var (
		res  [2]reply
		wg   sync.WaitGroup
		qtys = [2]uint16{dns.TypeA, dns.TypeAAAA}
	)
	for i, qt := range qtys {
		wg.Go(func() { res[i] = r.dns.ask(ctx, r.server, name, qt, true) })
	}
	wg.Wait()
	out := health.Resolution{TTL: math.MaxUint32}
	var failed []string
	for i, rep := range res {
		switch {
		case rep.err != nil:
			failed = append(failed, dns.TypeToString[qtys[i]]+": "+why(rep.err))
			continue
		case rep.msg.Rcode == dns.RcodeNameError:
			return health.Resolution{}, nil
		case rep.msg.Rcode != dns.RcodeSuccess:
			failed = append(failed, dns.TypeToString[qtys[i]]+": "+dns.RcodeToString[rep.msg.Rcode])
			continue
		}
		for _, rr := range rep.msg.Answer {
			switch rr := rr.(type) {
			case *dns.CNAME:
				out.CNAME = out.CNAME || strings.EqualFold(rr.Hdr.Name, name)
			case *dns.A, *dns.AAAA:
				if a := addrOf(rr); a.IsValid() {
					out.Addrs = append(out.Addrs, a)
					out.TTL = min(out.TTL, rr.Header().Ttl)
				}
			}
		}
	}
	if len(out.Addrs) == 0 {
		out.TTL = 0
	}
	if len(failed) > 0 && len(out.Addrs) == 0 {
		return out, fmt.Errorf("%s", strings.Join(failed, "; "))
	}
	return out, nil
}

// syncer is a running srvhealth sync: the monitor, the desired RRsets and the provider.
type syncer struct {
	opts    *syncOptions
	zone    *desiredZone
	rules   *policy.Rules
	allDown policy.AllDown
	inScope func(target string) bool
	mon     *health.Monitor
	sync    *zonesync.Syncer
	log     *log.Logger
	wake    chan struct{}
}

func newSyncer(o *syncOptions, z *desiredZone, p zonesync.Provider, resolver string, m *syncMetrics, logger *log.Logger, stdout io.Writer) *syncer {
	sc, _ := parseScope(o.scope) // checked by parseSync
	s := &syncer{
		opts:    o,
		zone:    z,
		rules:   &policy.Rules{DropCNAME: true, DropNoAddr: true},
		allDown: o.allDown,
		log:     logger,
		wake:    make(chan struct{}, 1),
	}
	s.inScope = func(target string) bool { return sc.any || len(sc.prefixes) > 0 || dns.IsSubDomain(z.origin, target) }
	cfg := health.Config{Interval: o.interval, Timeout: o.timeout, Fails: o.fails, Rises: o.rises}
	if len(sc.prefixes) > 0 {
		cfg.Scope = func(a netip.Addr) bool {
			a = a.Unmap()
			return slices.ContainsFunc(sc.prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
		}
	}
	r := syncResolver{dns: &dnsClient{timeout: o.timeout, slots: make(chan struct{}, 64)}, server: resolver}
	newProber := func(m probe.Method) (probe.Prober, error) { return probe.New(m, probe.Options{}) }
	s.mon = health.New(cfg, r, newProber, &syncEvents{m: m, log: logger, wake: s.wake})
	s.sync = &zonesync.Syncer{Provider: p, DryRun: o.dryRun, Plan: stdout, Logf: logger.Printf,
		Result: func(result string) { m.updates.WithLabelValues(p.Name(), result).Inc() }}
	return s
}

// observe observes every in-scope target of the desired RRsets (again: Observe keeps them from expiring)
// and returns their keys.
func (s *syncer) observe() []health.Key {
	var keys []health.Key
	for _, set := range s.zone.sets {
		for _, r := range set.rrset.Records {
			if r.Target == "." || !s.inScope(r.Target) {
				continue
			}
			k := health.NewKey(r.Target, r.Port, set.method, set.domain)
			s.mon.Observe(k, set.domain)
			keys = append(keys, k)
		}
	}
	return keys
}

// desired judges every RRset by the monitor's view.
func (s *syncer) desired() []zonesync.RRset {
	out := make([]zonesync.RRset, len(s.zone.sets))
	for i, set := range s.zone.sets {
		out[i], _, _ = judge(set, s.rules, s.allDown, s.inScope, s.mon.Check)
	}
	return out
}

// maxRetry bounds the back-off after a failed write, which starts at the interval and doubles.
const maxRetry = 5 * time.Minute

// run probes and writes until ctx ends. Its first write waits until every target is up or down (at most
// interval x (fails + 1) + timeout): a target that is dead when sync starts is never written back for the
// few rounds its hysteresis needs, as it would be if the first write counted the unprobed as up.
func (s *syncer) run(ctx context.Context) error {
	defer s.mon.Stop()
	s.mon.Start()
	keys := s.observe()
	s.log.Printf("%s: syncing %d SRV RRsets of %s (%d targets probed every %v)", s.sync.Provider.Name(), len(s.zone.sets), s.zone.origin, len(keys), s.opts.interval)
	first := time.After(s.opts.interval*time.Duration(s.opts.fails+1) + s.opts.timeout)
wait:
	for slices.ContainsFunc(keys, func(k health.Key) bool { st, _ := s.mon.Check(k, k.Domain); return st.State == health.Unknown }) {
		select {
		case <-ctx.Done():
			return nil
		case <-first:
			break wait
		case <-s.wake:
		}
	}

	var (
		last    []zonesync.RRset // the desired RRsets last written (or found in place); nil: none yet
		backoff time.Duration
		retry   <-chan time.Time
	)
	tick := time.NewTicker(s.opts.interval)
	defer tick.Stop()
	for {
		want := s.desired()
		// Nothing is written while the desired RRsets stay as last written, and nothing while a back-off
		// runs (a change that comes meanwhile waits for it).
		if retry == nil && (last == nil || backoff > 0 || !slices.EqualFunc(want, last, zonesync.RRset.Equal)) {
			sctx, cancel := context.WithTimeout(ctx, syncBudget)
			_, err := s.sync.Sync(sctx, want)
			cancel()
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				backoff = min(max(2*backoff, s.opts.interval), maxRetry)
				s.log.Printf("error: %v; retrying in %v", err, backoff)
				retry = time.After(backoff)
			default:
				last, backoff, retry = want, 0, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-tick.C:
			s.observe()
		case <-retry:
			retry = nil
		}
	}
}
