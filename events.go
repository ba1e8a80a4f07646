package srvhealth

import (
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/lint"
	"github.com/srvhealth/srvhealth/probe"
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
	setTargetUp(k, to)
	log.Infof("%s: %s -> %s (%s)", keyName(k), from, to, reason)
}

// setTargetUp sets k's target_up series for state to.
func setTargetUp(k health.Key, to health.State) {
	t, p, m, d := keyLabels(k)
	switch to {
	case health.Up:
		targetUp.WithLabelValues(t, p, m, d).Set(1)
	case health.Down:
		targetUp.WithLabelValues(t, p, m, d).Set(0)
	default:
		targetUp.DeleteLabelValues(t, p, m, d) // e.g. no address in scope any more: not probed
	}
}

// Adopted sets the gauge as StateChanged does, and logs the change with the member that found it: each
// replica's log and metrics tell what it answers, whoever probed.
func (e *events) Adopted(k health.Key, from, to health.State, prober string) {
	setTargetUp(k, to)
	log.Infof("%s: %s -> %s (from fleet member %s)", keyName(k), from, to, prober)
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
	if lint.DoubledOrigin(k.Target, e.zones) {
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

func (e *events) Evicted(health.Key) { evictedCount.Inc() }

// Deferred counts a probe not run because its server had had max_per_server probes this interval.
func (e *events) Deferred(k health.Key, _ netip.Addr) {
	probeCount.WithLabelValues(k.Method.String(), "deferred").Inc()
}
