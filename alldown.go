package srvhealth

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// maxAllDownNames bounds the SRV names whose all-down state is remembered for the log. Names come from
// queries, so from anyone; a name past the bound is counted in all_down_total but its transitions are not
// logged.
const maxAllDownNames = 1024

// allDownLog logs each SRV name's transitions into and out of all-down once: the counter says how many
// answers went out with every target down, the log says which name and service, and when it began and
// ended. A name is all-down until an answer for it keeps a target again.
type allDownLog struct {
	n    atomic.Int64 // len(down), read without the lock by every answer
	mu   sync.Mutex
	down map[allDownKey]struct{}
}

type allDownKey struct{ server, name string }

// allDownNames is process-wide, as the monitor's table is, so a reload does not log every all-down name
// again.
var allDownNames = &allDownLog{down: map[allDownKey]struct{}{}}

// note records the answer out for name: an all-down one (o), or one that keeps a target. Other answers
// (an error, no SRV records, a signed RRset served whole although targets should have gone) say nothing
// about the targets and change nothing.
func (l *allDownLog) note(server string, svc *Service, name string, o outcome, out *dns.Msg) {
	if o.signed || !o.allDown && (l.n.Load() == 0 || !keepsTarget(out)) {
		return
	}
	k := allDownKey{server, strings.ToLower(name)}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, was := l.down[k]
	switch {
	case o.allDown && !was && len(l.down) < maxAllDownNames:
		l.down[k] = struct{}{}
		log.Warningf("Service %s: every target of %s is down (server %s); answering with all_down %s", serviceName(svc), name, server, o.policy)
	case !o.allDown && was:
		delete(l.down, k)
		log.Infof("Service %s: %s has a target up again (server %s)", serviceName(svc), name, server)
	}
	l.n.Store(int64(len(l.down)))
}

// keepsTarget reports whether m serves at least one SRV target.
func keepsTarget(m *dns.Msg) bool {
	if m == nil || m.Rcode != dns.RcodeSuccess {
		return false
	}
	for _, rr := range m.Answer {
		if srv, ok := rr.(*dns.SRV); ok && srv.Target != "." {
			return true
		}
	}
	return false
}

// serviceName is a service label as metrics and logs show it: "_sip._tcp", without the trailing dot.
func serviceName(svc *Service) string { return strings.TrimSuffix(svc.Label, ".") }
