// Package policy judges an SRV RRset: which of its records are served, given what the health monitor knows
// of their targets, the operator's drains and the all-down policy. It is the one record policy of
// srvhealth: the plugin applies it to the answers that pass through CoreDNS, `srvhealth sync` to the
// records it writes to a zone CoreDNS does not serve, and `srvhealth check` to say what the plugin would
// serve. It imports no CoreDNS.
package policy

import (
	"strconv"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

// Reason is why a record is dropped, or Keep.
type Reason uint8

// The verdicts on one SRV record.
const (
	Keep Reason = iota
	DropDown
	DropCNAME
	DropNoAddress
	DropDrained

	// NumReasons is the number of verdicts, for tables indexed by Reason.
	NumReasons = iota
)

var reasonNames = [NumReasons]string{Keep: "keep", DropDown: "down", DropCNAME: "cname", DropNoAddress: "no_address", DropDrained: "drained"}

// String returns the name of r as the dropped_total metric's reason label has it.
func (r Reason) String() string { return reasonNames[r] }

// AllDown is what is served when every target of an SRV RRset is dropped.
type AllDown uint8

// The all-down policies. The answer decides what clients do next: all targets make them try each one,
// an empty answer makes XMPP clients fall back to the bare domain (RFC 6120 §3.2.1), and a lone "."
// target makes them give up (RFC 2782: "service decidedly not available").
const (
	ServeAll    AllDown = iota // serve the records anyway, minus CNAME and no-address targets (fail open)
	NoData                     // NOERROR with an empty answer
	ServFail                   // SERVFAIL
	Unavailable                // a single SRV record with target "."
)

var allDownNames = [...]string{ServeAll: "serve_all", NoData: "nodata", ServFail: "servfail", Unavailable: "unavailable"}

// String returns the Corefile name of p.
func (p AllDown) String() string { return allDownNames[p] }

// ParseAllDown returns the policy named s (serve_all, nodata, servfail, unavailable).
func ParseAllDown(s string) (AllDown, bool) {
	for i, n := range allDownNames {
		if n == s {
			return AllDown(i), true
		}
	}
	return 0, false
}

// Drain is one target taken out of the answers on purpose, for maintenance. A drained target is still
// probed, so its state is known the moment the drain ends.
type Drain struct {
	Target string // lower case, fully qualified
	Port   uint16 // 0: every port
}

func (d Drain) String() string {
	if d.Port == 0 {
		return d.Target
	}
	return d.Target + ":" + strconv.Itoa(int(d.Port))
}

// Rules are the operator's settings that judge a record.
type Rules struct {
	DropCNAME  bool    // drop targets that are CNAMEs (RFC 2782 forbids them)
	DropNoAddr bool    // drop targets without an A or AAAA record
	Drains     []Drain // targets taken out on purpose
}

// Health returns the verdict on a record whose target has status st, by health alone: a target nothing is
// known of (out of scope, not monitored), or not resolved yet, is kept, since until its first probe a
// target counts as up.
func (r *Rules) Health(st health.Status, known bool) Reason {
	if !known {
		return Keep
	}
	switch {
	case st.Resolved && st.CNAME && r.DropCNAME:
		return DropCNAME
	case st.Resolved && st.NoAddress && r.DropNoAddr:
		return DropNoAddress
	case st.State == health.Down:
		return DropDown
	}
	return Keep
}

// Verdict returns the verdict on the record for target:port (target lower case) whose target has status
// st. A drain is the operator's word and holds whether the target is known or not; a drained target that is
// also down is down, so that it is never the live fallback.
func (r *Rules) Verdict(st health.Status, known bool, target string, port uint16) Reason {
	v := r.Health(st, known)
	if v == Keep && r.Drained(target, port) {
		return DropDrained
	}
	return v
}

// Drained reports whether the record for target:port is drained; target is lower case.
func (r *Rules) Drained(target string, port uint16) bool {
	for _, d := range r.Drains {
		if d.Target == target && (d.Port == 0 || d.Port == port) {
			return true
		}
	}
	return false
}

// Select marks, through serve, which of n records to serve, given each one's verdict, and reports whether
// the all-down policy p applies (nothing alive was left). A drained target that is alive is served when
// nothing else alive is left: a drain moves clients away, it does not take the service down. Under
// ServeAll it then serves the records dropped only for being down, or every record when none of those is
// left either: failing open serves what there is. Under the other policies nothing is marked once all are
// down: the caller answers as the policy says.
func Select(n int, verdict func(i int) Reason, serve func(i int), p AllDown) (allDown bool) {
	if pick(n, verdict, serve, func(v Reason) bool { return v == Keep }) {
		return false
	}
	if pick(n, verdict, serve, func(v Reason) bool { return v == DropDrained }) {
		return false
	}
	if p == ServeAll && !pick(n, verdict, serve, func(v Reason) bool { return v == DropDown }) {
		pick(n, verdict, serve, func(Reason) bool { return true })
	}
	return true
}

// pick serves the records whose verdict ok accepts and reports whether there were any.
func pick(n int, verdict func(int) Reason, serve func(int), ok func(Reason) bool) bool {
	any := false
	for i := range n {
		if ok(verdict(i)) {
			serve(i)
			any = true
		}
	}
	return any
}

// UnavailableRecord returns the single RFC 2782 record that says the service at owner is decidedly not
// available (target "."), with ttl.
func UnavailableRecord(owner string, ttl uint32) *dns.SRV {
	return &dns.SRV{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: ttl}, Target: "."}
}

// Serve returns the records of srvs to serve, given their verdicts, under the all-down policy p, and
// whether p applied. Under Unavailable with every target down it is the single "." record (with the
// lowest TTL of srvs); under NoData and ServFail it is nothing, and the caller, which serves no answer of
// its own, decides what it can express. The records are srvs' own, in their order.
func Serve(srvs []*dns.SRV, verdicts []Reason, p AllDown) (served []*dns.SRV, allDown bool) {
	marked := make([]bool, len(srvs))
	allDown = Select(len(srvs), func(i int) Reason { return verdicts[i] }, func(i int) { marked[i] = true }, p)
	if allDown && p == Unavailable && len(srvs) > 0 {
		ttl := srvs[0].Hdr.Ttl
		for _, s := range srvs[1:] {
			ttl = min(ttl, s.Hdr.Ttl)
		}
		return []*dns.SRV{UnavailableRecord(srvs[0].Hdr.Name, ttl)}, true
	}
	for i, s := range srvs {
		if marked[i] {
			served = append(served, s)
		}
	}
	return served, allDown
}
