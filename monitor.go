package srvhealth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

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

	resolveFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "resolve_failures_total",
		Help:      "Counter of failed A/AAAA lookups of targets, by qtype and reason (timeout, truncated, servfail, refused, ..., error).",
	}, []string{"qtype", "reason"})

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
	failing logLimiter
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
	e.failing.forget(k.Target)
}

// resolveFailed logs that target's resolution failed, at most once per target per resolveLogEvery.
func (e *events) resolveFailed(target, what string) {
	if n, ok := e.failing.allow(target, time.Now()); ok {
		if n > 0 {
			what += fmt.Sprintf(" (%d lines about other targets held back before this one; resolve_failures_total counts every failure)", n)
		}
		log.Warningf("target %s %s", target, what)
	}
}

// resolveLogEvery is how often a target whose resolution keeps failing is logged again: its metric counts
// every failure, the log says that something is wrong and what.
const resolveLogEvery = 5 * time.Minute

// resolveLogBurst bounds the lines logged per resolveLogEvery for all targets together, so that an upstream
// that dies under 10,000 targets writes a few lines, not 10,000.
const resolveLogBurst = 20

// logLimiter allows a line per key per resolveLogEvery, and resolveLogBurst lines per resolveLogEvery in
// all, and counts the lines the second limit held back. Its memory is bounded by the targets logged within
// the last resolveLogEvery.
type logLimiter struct {
	mu         sync.Mutex
	last       map[string]time.Time // key -> when it was last logged
	window     time.Time            // start of the current window
	lines      int                  // logged in the current window
	suppressed int                  // held back by the burst limit since the last line
}

// allow reports whether a line for key may be logged at now and, if so, how many were held back before it.
func (l *logLimiter) allow(key string, now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	if now.Sub(l.window) >= resolveLogEvery {
		l.window, l.lines = now, 0
		for k, t := range l.last {
			if now.Sub(t) >= resolveLogEvery {
				delete(l.last, k)
			}
		}
	}
	if t, seen := l.last[key]; seen && now.Sub(t) < resolveLogEvery {
		return 0, false
	}
	if l.lines >= resolveLogBurst {
		l.suppressed++
		return 0, false
	}
	l.last[key] = now
	l.lines++
	suppressed, l.suppressed = l.suppressed, 0
	return suppressed, true
}

// forget lets key be logged again at once.
func (l *logLimiter) forget(key string) {
	l.mu.Lock()
	delete(l.last, key)
	l.mu.Unlock()
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
	ev   *events // nil: failures are neither counted nor logged
}

// Resolve resolves name to its A and AAAA addresses, asking for both at once so that an upstream that
// drops one type costs the other nothing. One type failing does not throw the other away: a target whose
// upstream drops AAAA is probed on its IPv4 addresses. Only when no address is known and a lookup failed
// is the resolution a failure (the target then stays unprobed, and served unfiltered, until one
// succeeds): "no address" is never concluded from a lookup that did not answer. Every failed lookup is
// counted, and logged at most once per target per resolveLogEvery, since a resolution that fails is
// otherwise invisible.
func (c chainResolver) Resolve(ctx context.Context, name string) (health.Resolution, error) {
	var (
		res  [2]lookupResult
		wg   sync.WaitGroup
		qtys = [2]uint16{dns.TypeA, dns.TypeAAAA}
	)
	for i, qt := range qtys {
		wg.Go(func() { res[i] = c.lookup(ctx, name, qt) })
	}
	wg.Wait()

	var out health.Resolution
	var failed []string
	for i, r := range res {
		if r.nxdomain {
			return health.Resolution{}, nil // the name does not exist: it has no address
		}
		if r.err != nil {
			why := r.err.Error()
			if r.reason == "timeout" {
				why = "timeout" // not the context's "deadline exceeded" or the upstream's i/o detail
			}
			failed = append(failed, dns.TypeToString[qtys[i]]+": "+why)
			continue
		}
		out.CNAME = out.CNAME || r.cname
		out.Addrs = append(out.Addrs, r.addrs...)
	}
	if len(failed) == 0 {
		return out, nil
	}
	stopping := errors.Is(ctx.Err(), context.Canceled) // Stop, not a timeout: says nothing about the target
	if c.ev != nil && !stopping {
		for i, r := range res {
			if r.err != nil {
				resolveFailures.WithLabelValues(dns.TypeToString[qtys[i]], r.reason).Inc()
			}
		}
	}
	if len(out.Addrs) > 0 {
		if c.ev != nil && !stopping {
			c.ev.resolveFailed(name, "lookup failed ("+strings.Join(failed, "; ")+"); probing the addresses of the other type only")
		}
		return out, nil
	}
	err := errors.New(strings.Join(failed, "; "))
	if c.ev != nil && !stopping {
		c.ev.resolveFailed(name, "cannot be resolved ("+err.Error()+"), so it is not probed and is served unfiltered")
	}
	return out, err
}

// lookupResult is what one A or AAAA lookup found.
type lookupResult struct {
	addrs    []netip.Addr
	cname    bool // the name is an alias
	nxdomain bool
	err      error
	reason   string // when err is set: the resolve_failures_total reason
}

func (c chainResolver) lookup(ctx context.Context, name string, qt uint16) lookupResult {
	m, err := c.query(ctx, name, qt)
	switch {
	case err != nil:
		return lookupResult{err: err, reason: failureReason(ctx, err)}
	case m.Rcode == dns.RcodeNameError:
		return lookupResult{nxdomain: true}
	case m.Rcode != dns.RcodeSuccess:
		err := rcodeError(m.Rcode)
		return lookupResult{err: err, reason: failureReason(ctx, err)}
	}
	var r lookupResult
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.CNAME:
			if strings.EqualFold(rr.Hdr.Name, name) {
				r.cname = true
			}
		case *dns.A:
			if a, ok := netip.AddrFromSlice(rr.A.To4()); ok {
				r.addrs = append(r.addrs, a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(rr.AAAA); ok {
				r.addrs = append(r.addrs, a)
			}
		}
	}
	return r
}

// failureReason is the resolve_failures_total reason of a lookup that failed with err: timeout,
// truncated, the error code the chain answered with (servfail, refused, ...), or error for anything else.
// The values are few, so the label stays bounded.
func failureReason(ctx context.Context, err error) string {
	var (
		ne net.Error
		rc rcodeError
	)
	switch {
	case errors.Is(err, errTruncated):
		return "truncated"
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &rc):
		if s, ok := dns.RcodeToString[int(rc)]; ok {
			return strings.ToLower(s)
		}
		return "rcode"
	}
	return "error"
}

var errTruncated = errors.New("truncated reply, over TCP too")

// rcodeError is an answer with an error code, or a plugin that returned one without writing a reply.
type rcodeError int

func (e rcodeError) Error() string {
	if s, ok := dns.RcodeToString[int(e)]; ok {
		return s
	}
	return "rcode " + strconv.Itoa(int(e))
}

// query asks the chain for name/qt the way a client on loopback would: over "UDP" first, since forward
// asks its upstream over the client's transport and not every upstream answers TCP, and over "TCP" when
// that reply is truncated, since a truncated reply lists only part of the records.
func (c chainResolver) query(ctx context.Context, name string, qt uint16) (*dns.Msg, error) {
	next := c.next()
	if next == nil {
		return nil, fmt.Errorf("no plugin after srvhealth")
	}
	for _, tcp := range []bool{false, true} {
		req := new(dns.Msg)
		req.SetQuestion(name, qt)
		req.SetEdns0(4096, false)
		w := &captureWriter{tcp: tcp}
		rcode, err := next.ServeDNS(ctx, w, req)
		if w.msg == nil {
			if err == nil {
				err = rcodeError(rcode)
			}
			return nil, err
		}
		if !w.msg.Truncated {
			return w.msg, nil
		}
	}
	return nil, errTruncated
}

// captureWriter is the dns.ResponseWriter of the monitor's own queries: it keeps the reply and looks like a
// client on loopback, over UDP or TCP. The query's EDNS buffer of 4096 keeps most answers whole over UDP.
type captureWriter struct {
	msg *dns.Msg
	tcp bool
}

var (
	loopbackUDP = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	loopbackTCP = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
)

func (w *captureWriter) addr() net.Addr {
	if w.tcp {
		return loopbackTCP
	}
	return loopbackUDP
}

func (w *captureWriter) LocalAddr() net.Addr         { return w.addr() }
func (w *captureWriter) RemoteAddr() net.Addr        { return w.addr() }
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
