package srvhealth

import (
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

// View is the health state the query path reads. *health.Monitor implements it; both methods must be
// cheap and must never block or touch the network.
type View interface {
	// Observe registers a target seen in an answer, or refreshes it.
	Observe(k health.Key, domain string)
	// Lookup returns what is known of a target; false if nothing is.
	Lookup(k health.Key) (health.Status, bool)
}

// Reason is why a record was dropped, or keep.
type Reason uint8

// The verdicts on one SRV record.
const (
	Keep Reason = iota
	DropDown
	DropCNAME
	DropNoAddress
)

var reasonNames = [...]string{Keep: "keep", DropDown: "down", DropCNAME: "cname", DropNoAddress: "no_address"}

func (r Reason) String() string { return reasonNames[r] }

// judged is one SRV record of an answer with what the health view says of its target.
type judged struct {
	srv    *dns.SRV
	status health.Status
	known  bool // the view knows the target (in scope, monitored)
	reason Reason
	served bool // set by filter
}

// judge decides what happens to a record whose target has status st. A target the view does not know, or
// has not resolved yet, is kept: until the first probe completes a target counts as up.
func judge(st health.Status, known bool, cfg *Config) Reason {
	if !known {
		return Keep
	}
	switch {
	case st.Resolved && st.CNAME && cfg.DropCNAME:
		return DropCNAME
	case st.Resolved && st.NoAddress && cfg.DropNoAddr:
		return DropNoAddress
	case st.State == health.Down:
		return DropDown
	}
	return Keep
}

// filter marks the records to serve and returns them, and whether the all-down policy applies (nothing
// survived). Under serve_all it then serves the records dropped only for being down, or every record when
// none of those is left either: failing open serves what there is.
func filter(js []judged, policy Policy) (kept []judged, allDown bool) {
	pick := func(ok func(judged) bool) {
		for i := range js {
			if ok(js[i]) {
				js[i].served = true
				kept = append(kept, js[i])
			}
		}
	}
	pick(func(j judged) bool { return j.reason == Keep })
	if len(kept) > 0 {
		return kept, false
	}
	if policy != ServeAll {
		return nil, true
	}
	pick(func(j judged) bool { return j.reason == DropDown })
	if len(kept) == 0 {
		pick(func(judged) bool { return true })
	}
	return kept, true
}

// healthTTL returns the TTL for an answer made of kept: at most maxTTL, lowered to the time until the
// soonest possible state change of a kept target (gdnsd's model), but never below minTTL.
func healthTTL(kept []judged, now time.Time, minTTL, maxTTL time.Duration) uint32 {
	d := maxTTL
	for _, j := range kept {
		if j.known && !j.status.Until.IsZero() {
			if u := j.status.Until.Sub(now); u < d {
				d = u
			}
		}
	}
	if d < minTTL {
		d = minTTL
	}
	return uint32(d / time.Second)
}

// capTTL returns rr with its TTL lowered to at most ttl. A record that must change is copied: backends
// such as file hand out records straight from their zone tree, so they must never be modified in place.
func capTTL(rr dns.RR, ttl uint32) dns.RR {
	if rr.Header().Ttl <= ttl {
		return rr
	}
	rr = dns.Copy(rr)
	rr.Header().Ttl = ttl
	return rr
}

// fixAdditional returns the additional section for an answer that kept the targets in kept out of the
// targets in all: address records of dropped targets are removed, addresses the monitor knows to be down
// are removed, and the known-up addresses of a kept target are added when the backend sent none for it.
// Every other record (OPT, glue of other names) stays as it was. With keepDown (serve_all when every
// target is down) the addresses of down targets stay too, since those targets are served.
func fixAdditional(extra []dns.RR, all, kept []judged, ttl uint32, keepDown bool) []dns.RR {
	out := make([]dns.RR, 0, len(extra))
	has := make(map[string]bool, len(kept))
	for _, rr := range extra {
		name := rr.Header().Name
		var addr []byte
		switch a := rr.(type) {
		case *dns.A:
			addr = a.A
		case *dns.AAAA:
			addr = a.AAAA
		default:
			out = append(out, rr)
			continue
		}
		if !isTarget(all, name) {
			out = append(out, rr)
			continue
		}
		j, ok := findTarget(kept, name)
		if !ok || (!keepDown && isDownAddr(j.status, addr)) {
			continue
		}
		has[strings.ToLower(name)] = true
		out = append(out, capTTL(rr, ttl))
	}
	for _, j := range kept {
		name := strings.ToLower(j.srv.Target)
		if has[name] || !j.known || len(j.status.Up) == 0 {
			continue
		}
		has[name] = true
		for _, a := range j.status.Up {
			hdr := dns.RR_Header{Name: j.srv.Target, Class: dns.ClassINET, Ttl: ttl}
			if a.Is4() {
				hdr.Rrtype = dns.TypeA
				out = append(out, &dns.A{Hdr: hdr, A: a.AsSlice()})
			} else {
				hdr.Rrtype = dns.TypeAAAA
				out = append(out, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
	}
	return out
}

func isTarget(js []judged, name string) bool {
	_, ok := findTarget(js, name)
	return ok
}

func findTarget(js []judged, name string) (judged, bool) {
	for _, j := range js {
		if strings.EqualFold(j.srv.Target, name) {
			return j, true
		}
	}
	return judged{}, false
}

func isDownAddr(st health.Status, ip []byte) bool {
	for _, d := range st.Down {
		if string(d.AsSlice()) == string(ip) || (d.Is4() && len(ip) == 16 && string(d.AsSlice()) == string(ip[12:])) {
			return true
		}
	}
	return false
}
