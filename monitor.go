package srvhealth

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

// Metrics of the monitor. Series of a target are deleted when the monitor forgets it, so their number is
// bounded by max_targets.
var (
	targetUp = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "target_up",
		Help:      "Whether an SRV target is up (1), down (0) or not yet probed (absent), for the service domain its probe names (empty for probes that name none).",
	}, []string{"target", "port", "probe", "domain"})

	probeCount = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "probes_total",
		Help:      "Counter of probes, by probe and result (up, down).",
	}, []string{"probe", "result"})

	probeDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "probe_duration_seconds",
		Help:      "Histogram of the time a probe took.",
		Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"probe"})

	// targetCount is read from the monitors when scraped: every server block's monitor counts, and so
	// does every target it holds, probed or not.
	_ = promauto.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "targets",
		Help:      "Number of targets monitored, summed over the server blocks.",
	}, func() float64 { return float64(health.Monitored()) })

	overflowCount = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "overflow_total",
		Help:      "Counter of targets refused because the table was at max_targets, and so served unfiltered.",
	})

	certExpiry = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "tls_cert_expiry_timestamp_seconds",
		Help:      "Expiry (Unix time) of the certificate a TLS-based probe saw for a service domain (its SNI).",
	}, []string{"target", "port", "domain"})
)

// events turns the monitor's events into metrics and log lines: one line per state change, one warning
// per target for a configuration mistake, never a line per query.
type events struct {
	warned  sync.Map // health.Key -> struct{}: targets already warned about
	failing sync.Map // target name -> struct{}: targets whose resolution failure was logged
	zones   []string
}

// certLabels are the labels of one tls_cert_expiry_timestamp_seconds series.
type certLabels struct{ target, port, domain string }

// certUsers counts, process-wide, the keys whose probes set each certificate-expiry series: the
// handshakes of different probes of one port and domain (tls and sip-tls, say, or two server blocks) see
// the same certificate and share the series, so it goes only with the last of them.
var certUsers = struct {
	mu sync.Mutex
	m  map[certLabels]map[health.Key]struct{}
}{m: map[certLabels]map[health.Key]struct{}{}}

func keyLabels(k health.Key) (target, port, method, domain string) {
	return k.Target, strconv.Itoa(int(k.Port)), k.Method.String(), k.Domain
}

// keyName names k in a log line: "target sip1.example.com. port 5060 probe sip-udp", with the domain
// for the probes whose state depends on it.
func keyName(k health.Key) string {
	s := fmt.Sprintf("target %s port %d probe %s", k.Target, k.Port, k.Method)
	if k.Domain != "" {
		s += " domain " + k.Domain
	}
	return s
}

func (e *events) ProbeDone(k health.Key, addr netip.Addr, r probe.Result) {
	result := "down"
	if r.Up {
		result = "up"
	}
	m := k.Method.String()
	probeCount.WithLabelValues(m, result).Inc()
	probeDuration.WithLabelValues(m).Observe(r.Duration.Seconds())
	if !r.CertNotAfter.IsZero() {
		l := certLabels{k.Target, strconv.Itoa(int(k.Port)), k.Domain}
		certUsers.mu.Lock()
		users := certUsers.m[l]
		if users == nil {
			users = map[health.Key]struct{}{}
			certUsers.m[l] = users
		}
		users[k] = struct{}{}
		certExpiry.WithLabelValues(l.target, l.port, l.domain).Set(float64(r.CertNotAfter.Unix()))
		certUsers.mu.Unlock()
	}
}

func (e *events) StateChanged(k health.Key, from, to health.State, reason string) {
	t, p, m, d := keyLabels(k)
	switch to {
	case health.Up:
		targetUp.WithLabelValues(t, p, m, d).Set(1)
	case health.Down:
		targetUp.WithLabelValues(t, p, m, d).Set(0)
	default:
		targetUp.DeleteLabelValues(t, p, m, d) // e.g. no address in scope any more: not probed
	}
	log.Infof("%s: %s -> %s (%s)", keyName(k), stateName(from), stateName(to), reason)
}

func (e *events) Resolved(k health.Key, r health.Resolution) {
	var problem string
	switch {
	case r.CNAME:
		problem = "is a CNAME; RFC 2782 forbids aliases as SRV targets and many SIP/XMPP clients reject them"
	case len(r.Addrs) == 0:
		problem = "has no A or AAAA address"
	default:
		return
	}
	if doubled(k.Target, e.zones) {
		problem += "; it looks like the zone origin was appended twice (a missing trailing dot in the zone file?)"
	}
	k.Domain = "" // the records are the same whichever domain's answer listed the target
	if _, seen := e.warned.LoadOrStore(k, struct{}{}); !seen {
		log.Warningf("target %s port %d %s", k.Target, k.Port, problem)
	}
}

func (e *events) Forgotten(k health.Key) {
	t, p, m, d := keyLabels(k)
	targetUp.DeleteLabelValues(t, p, m, d)
	l := certLabels{t, p, d}
	certUsers.mu.Lock()
	if users := certUsers.m[l]; users != nil {
		delete(users, k)
		if len(users) == 0 {
			delete(certUsers.m, l)
			certExpiry.DeleteLabelValues(t, p, d)
		}
	}
	certUsers.mu.Unlock()
	e.warned.Delete(health.Key{Target: k.Target, Port: k.Port, Method: k.Method})
	e.failing.Delete(k.Target)
}

func (e *events) Overflow(health.Key) { overflowCount.Inc() }

// doubled reports whether name ends in a zone written twice, "sip1.example.com.example.com.": the mistake
// of a zone file that forgot a target's trailing dot.
func doubled(name string, zones []string) bool {
	for _, z := range zones {
		if z == "." {
			continue
		}
		if strings.HasSuffix(name, "."+z[:len(z)-1]+"."+z) || name == z[:len(z)-1]+"."+z {
			return true
		}
	}
	return false
}

func stateName(s health.State) string {
	switch s {
	case health.Up:
		return "up"
	case health.Down:
		return "down"
	}
	return "unknown"
}

// chainResolver resolves targets through the plugins after srvhealth, so the monitor sees the answers a
// client would get (file, kubernetes, forward...). plugin/pkg/upstream cannot be used here: it needs the
// server from a live request's context, and resolution runs in the background.
type chainResolver struct {
	next func() plugin.Handler
	ev   *events // nil: failures are not logged
}

// Resolve resolves name. A failure leaves the target unprobed (and served unfiltered) until a later
// resolution succeeds, so it is logged once per target: an upstream that does not answer is otherwise
// invisible.
func (c chainResolver) Resolve(ctx context.Context, name string) (health.Resolution, error) {
	res, err := c.resolve(ctx, name)
	if err != nil && c.ev != nil && ctx.Err() == nil {
		if _, seen := c.ev.failing.LoadOrStore(name, struct{}{}); !seen {
			log.Warningf("target %s cannot be resolved, so it is not probed and is served unfiltered: %v", name, err)
		}
	}
	return res, err
}

func (c chainResolver) resolve(ctx context.Context, name string) (health.Resolution, error) {
	var res health.Resolution
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		m, err := c.query(ctx, name, qt)
		if err != nil {
			return res, err
		}
		if m.Rcode == dns.RcodeNameError {
			return res, nil
		}
		if m.Rcode != dns.RcodeSuccess {
			return res, fmt.Errorf("resolving %s %s: %s", name, dns.TypeToString[qt], dns.RcodeToString[m.Rcode])
		}
		for _, rr := range m.Answer {
			switch rr := rr.(type) {
			case *dns.CNAME:
				if strings.EqualFold(rr.Hdr.Name, name) {
					res.CNAME = true
				}
			case *dns.A:
				if a, ok := netip.AddrFromSlice(rr.A.To4()); ok {
					res.Addrs = append(res.Addrs, a)
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(rr.AAAA); ok {
					res.Addrs = append(res.Addrs, a)
				}
			}
		}
	}
	return res, nil
}

func (c chainResolver) query(ctx context.Context, name string, qt uint16) (*dns.Msg, error) {
	next := c.next()
	if next == nil {
		return nil, fmt.Errorf("resolving %s: no plugin after srvhealth", name)
	}
	req := new(dns.Msg)
	req.SetQuestion(name, qt)
	req.SetEdns0(4096, false)
	w := &captureWriter{}
	rcode, err := next.ServeDNS(ctx, w, req)
	if w.msg == nil {
		if err == nil {
			err = fmt.Errorf("resolving %s: %s", name, dns.RcodeToString[rcode])
		}
		return nil, err
	}
	return w.msg, nil
}

// captureWriter is the dns.ResponseWriter of the monitor's own queries: it keeps the reply and looks like a
// UDP client on loopback. UDP, because forward asks its upstream over the client's transport and not every
// upstream answers TCP; the query's EDNS buffer of 4096 keeps answers whole, and forward retries a
// truncated one over TCP itself.
type captureWriter struct{ msg *dns.Msg }

var loopback = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}

func (w *captureWriter) LocalAddr() net.Addr         { return loopback }
func (w *captureWriter) RemoteAddr() net.Addr        { return loopback }
func (w *captureWriter) WriteMsg(m *dns.Msg) error   { w.msg = m; return nil }
func (w *captureWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *captureWriter) Close() error                { return nil }
func (w *captureWriter) TsigStatus() error           { return nil }
func (w *captureWriter) TsigTimersOnly(bool)         {}
func (w *captureWriter) Hijack()                     {}

// probeOptions builds the probes' options from the Corefile settings.
func probeOptions(cfg *Config) (probe.Options, error) {
	o := probe.Options{TLSVerify: cfg.TLSVerify}
	if fail := cfg.SIPFailCodes; fail != nil {
		o.SIPAccept = func(code int) bool { return code >= 200 && code < 700 && !slices.Contains(fail, code) }
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return o, fmt.Errorf("tls_verify: %v", err)
		}
		o.RootCAs = x509.NewCertPool()
		if !o.RootCAs.AppendCertsFromPEM(pem) {
			return o, fmt.Errorf("tls_verify: no PEM certificate in %s", cfg.CAFile)
		}
	}
	return o, nil
}

// scopeFunc returns the address filter of the monitor: nil (all) unless the scope lists CIDRs.
func scopeFunc(s Scope) func(netip.Addr) bool {
	if len(s.Prefixes) == 0 {
		return nil
	}
	return func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range s.Prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
}
