package srvhealth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

// chainResolver resolves targets through the plugins after srvhealth, so the monitor sees the answers a
// client would get (file, kubernetes, forward...). plugin/pkg/upstream cannot be used here: it needs the
// server from a live request's context, and resolution runs in the background.
type chainResolver struct {
	next func() plugin.Handler
	ev   *events // nil: failures are neither counted nor logged
}

// chain returns a resolver asking the plugins after h, for the queries srvhealth makes of its own (the
// SOA of a negative answer, the SRV names behind NAPTR records, the status, the warm names). Failures are
// not counted or logged: those of the monitor's resolutions are (it builds its resolver with events).
func (h *Handler) chain() chainResolver {
	return chainResolver{next: func() plugin.Handler { return h.Next }}
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

	out := health.Resolution{TTL: math.MaxUint32}
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
		if len(r.addrs) > 0 {
			out.TTL = min(out.TTL, r.ttl)
		}
	}
	if len(out.Addrs) == 0 {
		out.TTL = 0
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
	ttl      uint32 // the lowest TTL of the address records
	cname    bool   // the name is an alias
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
	r := lookupResult{ttl: math.MaxUint32}
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.CNAME:
			if strings.EqualFold(rr.Hdr.Name, name) {
				r.cname = true
			}
		case *dns.A:
			if a, ok := netip.AddrFromSlice(rr.A.To4()); ok {
				r.addrs = append(r.addrs, a)
				r.ttl = min(r.ttl, rr.Hdr.Ttl)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(rr.AAAA); ok {
				r.addrs = append(r.addrs, a)
				r.ttl = min(r.ttl, rr.Hdr.Ttl)
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
