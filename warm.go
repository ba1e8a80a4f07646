package srvhealth

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

// warmDeadline bounds how long Ready waits for the warm names' first probe round; past it the plugin
// reports ready and logs what is still unknown, because a DNS server must not stay out of service for the
// sake of the SIP servers it checks.
const warmDeadline = 30 * time.Second

// Ready implements ready.Readiness: true once the warm names' targets have had their first probe round (or
// warmDeadline passed) and, in a fleet, once the member pulled the fleet's state on joining (or
// fleet.JoinWait passed). It never depends on whether the probed servers are up: a false value takes a
// CoreDNS pod out of its cluster's DNS service.
func (h *Handler) Ready() bool {
	return h.warm.done.Load() && (h.fleet == nil || h.fleet.Ready())
}

// warmer resolves the warm names at start-up and waits for their first probe round.
type warmer struct {
	h      *Handler
	done   atomic.Bool
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (w *warmer) start() {
	if len(w.h.cfg.Warm) == 0 {
		w.done.Store(true)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), warmDeadline)
	w.cancel = cancel
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer w.done.Store(true)
		w.run(ctx)
	}()
}

func (w *warmer) stop() {
	if w.cancel != nil {
		w.cancel()
	}
	w.wg.Wait()
}

// run registers the warm names' targets and waits for the monitor to settle them. A name that fails to
// resolve is tried again, a little later each time; one with no SRV records has nothing to wait for.
func (w *warmer) run(ctx context.Context) {
	r := w.h.chain()
	retry := 50 * time.Millisecond
	for {
		keys, complete := w.observe(ctx, r)
		if complete {
			if w.h.monitor.WaitSettled(ctx, keys) != nil {
				w.deadline(keys)
			}
			return
		}
		select {
		case <-ctx.Done():
			w.deadline(keys)
			return
		case <-time.After(retry):
			retry = min(2*retry, time.Second)
		}
	}
}

// deadline logs the targets still unknown when the warm-up deadline passed.
func (w *warmer) deadline(keys []health.Key) {
	var open []string
	for _, k := range keys {
		if !w.h.monitor.Settled(k) {
			open = append(open, k.Target)
		}
	}
	log.Warningf("warm-up deadline %s passed; reporting ready with targets still unknown: %s", warmDeadline, strings.Join(open, " "))
}

// observe resolves the warm names and registers their targets; complete is false if a name failed.
func (w *warmer) observe(ctx context.Context, r chainResolver) (keys []health.Key, complete bool) {
	complete = true
	for _, name := range w.h.cfg.Warm {
		svc := w.h.cfg.match(name)
		if svc == nil {
			continue
		}
		m, err := r.query(ctx, name, dns.TypeSRV)
		if err != nil {
			complete = false
			continue
		}
		for _, rr := range m.Answer {
			if s, ok := rr.(*dns.SRV); ok && s.Target != "." && w.h.inScope(s.Target) {
				domain := serviceDomain(s.Hdr.Name)
				k := health.NewKey(s.Target, s.Port, svc.Method, domain)
				w.h.monitor.Observe(k, domain)
				keys = append(keys, k)
			}
		}
	}
	return keys, complete
}
