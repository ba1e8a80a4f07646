package srvhealth

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/lint"
	"github.com/srvhealth/srvhealth/policy"
)

// Drain is one target taken out of the answers on purpose, for maintenance: the Corefile says so, and a
// reload applies it. See policy.Drain.
type Drain = policy.Drain

// parseDrain reads TARGET[:PORT].
func parseDrain(s string) (Drain, error) {
	name, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		name, port = s[:i], s[i+1:]
	}
	if _, ok := dns.IsDomainName(name); !ok || name == "" || name == "." {
		return Drain{}, fmt.Errorf("%q is not a target name", name)
	}
	d := Drain{Target: strings.ToLower(plugin.Name(name).Normalize())}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return Drain{}, fmt.Errorf("%q is not a port (1-65535)", port)
		}
		d.Port = uint16(n)
	}
	return d, nil
}

// drainRefs counts the running instances that drain each target, so that the old instance of a reload,
// which stops after the new one started, does not delete the series of a drain the new one keeps.
var drainRefs = struct {
	sync.Mutex
	n map[Drain]int
}{n: map[Drain]int{}}

// applyDrains reports the drains of a starting instance: the metric, and one log line for each drain
// that no running instance had (a reload that keeps a drain says nothing of it again).
func applyDrains(drains []Drain) {
	drainRefs.Lock()
	defer drainRefs.Unlock()
	for _, d := range drains {
		if drainRefs.n[d]++; drainRefs.n[d] == 1 {
			log.Infof("target %s drained by configuration: out of the answers while a live target remains, still probed", d)
		}
		drainedGauge.WithLabelValues(d.Target, strconv.Itoa(int(d.Port))).Set(1)
	}
}

// releaseDrains undoes applyDrains for a stopping instance; a drain no running instance has any more is
// logged as ended (the reload that removed its line brings the target back).
func releaseDrains(drains []Drain) {
	drainRefs.Lock()
	defer drainRefs.Unlock()
	for _, d := range drains {
		if drainRefs.n[d]--; drainRefs.n[d] <= 0 {
			delete(drainRefs.n, d)
			drainedGauge.DeleteLabelValues(d.Target, strconv.Itoa(int(d.Port)))
			log.Infof("target %s no longer drained: back in the answers while it is alive", d)
		}
	}
}

// warnDrains logs a warning for each drain whose target is not under the block's zones: it takes a target
// out only if a record under the zones names it, so it is most likely a typo (the rule srvhealth check
// applies as drain-outside).
func warnDrains(zones []string, drains []Drain) {
	ld := make([]lint.Drain, len(drains))
	for i, d := range drains {
		ld[i] = lint.Drain{Target: d.Target, Port: d.Port}
	}
	for _, f := range lint.CheckDrains(zones, ld, nil) {
		log.Warning(f.Message)
	}
}
