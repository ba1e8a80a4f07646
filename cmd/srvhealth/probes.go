package main

import (
	"context"
	"crypto/x509"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/srvhealth/srvhealth/lint"
	"github.com/srvhealth/srvhealth/probe"
)

// methodFor is the probe of a service: SIP OPTIONS or the XMPP stream over the service's transport,
// TLS from the first byte for _sips._tcp, _sip._tls and the XEP-0368 _xmpps- labels. It is the
// plugin's default for each service.
func methodFor(s lint.Service) probe.Method {
	var kind probe.Kind // the natural probe of the label, as the plugin chooses it
	if s.Legacy {
		kind = probe.KindXMPPClient // _jabber._tcp is c2s under its pre-RFC 6120 name
	}
	m, _ := probe.ForService(s.Label, kind) // every label srvhealth check asks has a probe
	return m
}

// probeJob is one address of one target of one service.
type probeJob struct {
	owner  string
	method probe.Method
	target string
	port   uint16
	addr   netip.Addr
}

// probeAll probes every address of every target of every service of domain at once, at most --parallel
// at a time, each bounded by --timeout, so that the whole takes about the slowest probe. Addresses this
// host cannot reach at all (no route for the family) are not probed and come back in skipped.
func (c *checker) probeAll(ctx context.Context, domain string, srvs []lint.SRV, targets []target) (out []ProbeReport, skipped []string) {
	addrs := map[string][]netip.Addr{}
	for _, t := range targets {
		addrs[t.name] = t.addrs
	}
	var jobs []probeJob
	seen := map[probeJob]bool{}
	for _, s := range srvs {
		svc, ok := lint.ServiceOf(s.Hdr.Name)
		if !ok || s.Target == "." {
			continue
		}
		t := strings.ToLower(s.Target)
		for _, a := range addrs[t] {
			j := probeJob{owner: strings.ToLower(s.Hdr.Name), method: methodFor(svc), target: t, port: s.Port, addr: a}
			if seen[j] {
				continue
			}
			seen[j] = true
			if !c.opts.family.allows(a) || !routable(a) {
				skipped = append(skipped, j.owner+" "+t+" "+netip.AddrPortFrom(a, s.Port).String()+": no route from here, or left out by -4/-6")
				continue
			}
			jobs = append(jobs, j)
		}
	}
	probers := map[probe.Method]probe.Prober{}
	for _, j := range jobs {
		if probers[j.method] == nil {
			p, err := probe.New(j.method, c.probeOpts)
			if err != nil {
				panic(err) // methodFor only makes valid methods
			}
			probers[j.method] = p
		}
	}
	out = make([]ProbeReport, len(jobs))
	var wg sync.WaitGroup
	slots := make(chan struct{}, c.opts.parallel)
	now := c.now()
	for i, j := range jobs {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			pctx, cancel := context.WithTimeout(ctx, c.opts.timeout)
			defer cancel()
			r := probers[j.method].Probe(pctx, probe.Target{
				Addr:   netip.AddrPortFrom(j.addr, j.port),
				Domain: strings.TrimSuffix(domain, "."),
				Host:   strings.TrimSuffix(j.target, "."),
			})
			out[i] = probeReport(j, r, now)
		})
	}
	wg.Wait()
	return out, skipped
}

func probeReport(j probeJob, r probe.Result, now time.Time) ProbeReport {
	p := ProbeReport{Service: j.owner, Target: j.target, Port: j.port, Address: netip.AddrPortFrom(j.addr, j.port).String(),
		Method: j.method.String(), Up: r.Up, Reason: r.Reason, RTTMS: ms(r.Duration)}
	d := r.Details
	if d == nil {
		return p
	}
	p.SIPServer = d.SIPServer
	if j.method.Kind != probe.KindSIP && j.method.Transport == probe.TCP {
		p.StartTLS = d.StartTLS.String()
	}
	if d.TLS != nil && len(d.TLS.Certificates) > 0 {
		leaf := d.TLS.Certificates[0]
		// The names are the server's text, as a SIP reason phrase is: printable and bounded for the
		// report and the terminal. The rules judge the chain itself.
		names := make([]string, len(leaf.DNSNames))
		for i, n := range leaf.DNSNames {
			names[i] = probe.PeerText(n)
		}
		p.TLS = &TLSReport{Version: tlsVersion(d.TLS.Version), ALPN: d.TLS.ALPN, Subject: probe.PeerText(leaf.Subject.CommonName),
			Names: names, Issuer: probe.PeerText(leaf.Issuer.CommonName), NotAfter: leaf.NotAfter.UTC(),
			DaysLeft: int(leaf.NotAfter.Sub(now).Hours() / 24)}
		p.chain = d.TLS.Certificates
	}
	p.StartTLSError = d.StartTLSError
	return p
}

// pluginVerifies ends a certificate finding: check verifies the chain and the name, the plugin only with
// tls_verify, so a target check reports is still up for the plugin without it.
const pluginVerifies = " (the srvhealth plugin verifies certificates only with tls_verify in its block: without it this target stays up and is served)"

// probeFindings applies the probe, certificate and STARTTLS rules. A certificate or STARTTLS finding is
// made once per service, target and rule, whatever the number of addresses.
func probeFindings(domain string, ps []ProbeReport, roots *x509.CertPool, now time.Time, warn time.Duration) []lint.Finding {
	var lps []lint.Probe
	for _, p := range ps {
		ap := netip.MustParseAddrPort(p.Address)
		lps = append(lps, lint.Probe{Name: p.Service, Target: p.Target, Port: p.Port, Addr: ap.Addr(), Up: p.Up, Reason: p.Reason})
	}
	fs := lint.CheckProbes(lps)
	type once struct{ code, name, target string }
	seen := map[once]bool{}
	add := func(more []lint.Finding) {
		for _, f := range more {
			k := once{f.Code, f.Name, f.Target}
			if !seen[k] {
				seen[k] = true
				if f.Code == lint.CodeCertUntrusted || f.Code == lint.CodeCertName {
					f.Message += pluginVerifies
				}
				fs = append(fs, f)
			}
		}
	}
	for _, p := range ps {
		if len(p.chain) > 0 {
			add(lint.CheckCertificate(lint.Certificate{Name: p.Service, Target: p.Target, Address: p.Address,
				Domain: strings.TrimSuffix(domain, "."), Chain: p.chain}, roots, now, warn))
		}
		if p.StartTLS != "" && p.Up {
			add(lint.CheckStartTLS(lint.StartTLS{Name: p.Service, Target: p.Target, Address: p.Address, State: p.StartTLS, Err: p.StartTLSError}))
		}
	}
	return fs
}
