package srvhealth

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/fleet"
	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

func newHandler(cfg *Config) (*Handler, error) {
	opts := cfg.Probe
	h := &Handler{cfg: cfg, intn: rand.IntN, now: time.Now, memo: newMemo()}
	ev := &events{zones: cfg.Zones}
	var sharer health.Sharer
	if cfg.Fleet != nil {
		h.fleet = fleet.NewLink(*cfg.Fleet)
		sharer = h.fleet
	}
	h.monitor = health.New(health.Config{
		Interval:     cfg.Interval,
		Timeout:      cfg.Timeout,
		Fails:        cfg.Fails,
		Rises:        cfg.Rises,
		Expire:       cfg.Expire,
		MaxTargets:   cfg.MaxTargets,
		MaxInFlight:  cfg.MaxInFlight,
		MaxPerServer: cfg.MaxPerServer,
		Scope:        scopeFunc(cfg.Scope),
		Fleet:        sharer,
		Accept:       h.accepts,
	}, chainResolver{next: func() plugin.Handler { return h.Next }, ev: ev}, func(m probe.Method) (probe.Prober, error) {
		return probe.New(m, opts)
	}, ev)
	h.view = h.monitor
	if h.fleet != nil {
		h.fleet.Attach(h.monitor)
		h.fleet.Interval = cfg.Interval
		h.fleet.Lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			r, err := h.chain().Resolve(ctx, dns.Fqdn(host))
			return r.Addrs, err
		}
	}
	h.warm = &warmer{h: h}
	return h, nil
}

// OnStartup starts the monitor and, with warm names, resolves and registers their targets.
func (h *Handler) OnStartup() error {
	applyDrains(h.cfg.Drains)
	warnDrains(h.cfg.Zones, h.cfg.Drains)
	if h.inst != nil && !h.inst.started.Load() && listed(h.inst) {
		pending.Lock()
		pending.hs[h] = struct{}{}
		pending.Unlock()
	}
	h.monitor.Start()
	if h.fleet != nil {
		// Joined after the monitor is attached and started, so the states pulled on joining are adopted
		// before Ready reports true.
		if err := h.fleet.Start(); err != nil {
			return err
		}
	}
	h.warm.start()
	return nil
}

// OnShutdown stops the warm-up and the monitor and waits for every goroutine they started.
func (h *Handler) OnShutdown() error {
	pending.Lock()
	delete(pending.hs, h)
	pending.Unlock()
	h.warm.stop()
	h.services.close()
	if h.fleet != nil {
		h.fleet.Stop()
	}
	h.monitor.Stop()
	releaseDrains(h.cfg.Drains)
	return nil
}

// A reload that fails leaves no trace.
//
// On a reload Caddy builds the new instance and runs its OnStartup hooks before it binds the listeners;
// when binding fails it drops the new instance without running its OnShutdown hooks, and runs the old
// instance's OnRestartFailed hooks instead (caddy v1.1.4, Instance.Restart). Left alone, a dropped
// instance's warm-up would keep probing, and its monitor would keep its targets in the registry, for the
// life of the process. So each handler knows its caddy instance (by a marker in the instance's Storage);
// a handler whose instance has not yet reported it started (InstanceStartupEvent) is pending; and when a
// restart fails (every srvhealth instance hooks OnRestartFailed), or any instance starts, the pending
// handlers whose instance Caddy no longer lists are discarded.

func init() { caddy.RegisterEventHook(pluginName, onCaddyEvent) }

// instanceKey is the key of an instance's marker in its Storage.
type instanceKey struct{}

// instance is the marker of one caddy instance.
type instance struct {
	started atomic.Bool // the instance bound its listeners and serves
}

// pending are the handlers started in an instance that has not reported started yet.
var pending = struct {
	sync.Mutex
	hs map[*Handler]struct{}
}{hs: map[*Handler]struct{}{}}

// hook ties h to the lifecycle of c's instance.
func (h *Handler) hook(c *caddy.Controller) {
	h.inst, _ = c.Get(instanceKey{}).(*instance)
	if h.inst == nil {
		h.inst = &instance{}
		c.Set(instanceKey{}, h.inst)
	}
	c.OnStartup(h.OnStartup)
	c.OnShutdown(h.OnShutdown)
	c.OnRestartFailed(func() error { discardDropped(); return nil })
}

// listed reports whether Caddy lists i's instance among its instances: from the start of its setup until
// it is stopped, or dropped after a failed start.
func listed(i *instance) bool {
	for _, ci := range caddy.Instances() {
		ci.StorageMu.RLock()
		v := ci.Storage[instanceKey{}]
		ci.StorageMu.RUnlock()
		if v == i {
			return true
		}
	}
	return false
}

func onCaddyEvent(name caddy.EventName, info any) error {
	if name != caddy.InstanceStartupEvent {
		return nil
	}
	if ci, ok := info.(*caddy.Instance); ok {
		ci.StorageMu.RLock()
		i, _ := ci.Storage[instanceKey{}].(*instance)
		ci.StorageMu.RUnlock()
		if i != nil {
			i.started.Store(true)
			pending.Lock()
			for h := range pending.hs {
				if h.inst == i {
					delete(pending.hs, h)
				}
			}
			pending.Unlock()
		}
	}
	discardDropped() // an instance that failed where no srvhealth instance ran before it
	return nil
}

// discardDropped stops the pending handlers whose instance Caddy dropped, and lets their monitors' targets
// go from the registry at once: no successor will adopt them.
func discardDropped() {
	var dropped []*Handler
	pending.Lock()
	for h := range pending.hs {
		if !h.inst.started.Load() && !listed(h.inst) {
			dropped = append(dropped, h)
			delete(pending.hs, h)
		}
	}
	pending.Unlock()
	for _, h := range dropped {
		h.warm.stop()
		h.services.close()
		if h.fleet != nil {
			h.fleet.Stop()
		}
		h.monitor.Discard()
		releaseDrains(h.cfg.Drains)
	}
}
