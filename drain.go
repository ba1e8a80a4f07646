package srvhealth

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

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

// applyDrains reports the drains of a starting instance (metric, one log line each).
func applyDrains(drains []Drain) {
	drainRefs.Lock()
	defer drainRefs.Unlock()
	for _, d := range drains {
		drainRefs.n[d]++
		drainedGauge.WithLabelValues(d.Target, strconv.Itoa(int(d.Port))).Set(1)
		log.Infof("target %s drained by configuration: out of the answers while a live target remains, still probed", d)
	}
}

// releaseDrains undoes applyDrains for a stopping instance.
func releaseDrains(drains []Drain) {
	drainRefs.Lock()
	defer drainRefs.Unlock()
	for _, d := range drains {
		if drainRefs.n[d]--; drainRefs.n[d] <= 0 {
			delete(drainRefs.n, d)
			drainedGauge.DeleteLabelValues(d.Target, strconv.Itoa(int(d.Port)))
		}
	}
}
