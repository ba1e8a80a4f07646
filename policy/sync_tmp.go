// Package policy is the judgement of an SRV RRset. TEMPORARY stand-in for the package being extracted on
// main, with exactly its announced API, so that srvhealth sync builds before it lands; deleted when main
// is merged into h-sync.
package policy

import "github.com/srvhealth/srvhealth/health"

// Reason is why a record was dropped, or Keep.
type Reason uint8

// The verdicts on one SRV record.
const (
	Keep Reason = iota
	DropDown
	DropCNAME
	DropNoAddress
	DropDrained
)

var reasonNames = [...]string{Keep: "keep", DropDown: "down", DropCNAME: "cname", DropNoAddress: "no_address", DropDrained: "drained"}

func (r Reason) String() string { return reasonNames[r] }

// AllDown is what is answered when every target of an RRset is dropped.
type AllDown uint8

// The all-down policies.
const (
	ServeAll AllDown = iota
	NoData
	ServFail
	Unavailable
)

var allDownNames = [...]string{ServeAll: "serve_all", NoData: "nodata", ServFail: "servfail", Unavailable: "unavailable"}

func (p AllDown) String() string { return allDownNames[p] }

// ParseAllDown parses a policy as written in the Corefile.
func ParseAllDown(s string) (AllDown, bool) {
	for i, n := range allDownNames {
		if n == s {
			return AllDown(i), true
		}
	}
	return 0, false
}

// Rules are the per-record rules.
type Rules struct {
	DropCNAME, DropNoAddr bool
	AllDown               AllDown
}

// Verdict decides what happens to a record whose target has status st.
func (r Rules) Verdict(st health.Status, known, drained bool) Reason {
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
	case drained:
		return DropDrained
	}
	return Keep
}

// Select marks what is served and reports whether the all-down policy applies.
func Select(n int, reason func(i int) Reason, serve func(i int), p AllDown) (allDown bool) {
	pick := func(ok func(Reason) bool) bool {
		any := false
		for i := range n {
			if ok(reason(i)) {
				serve(i)
				any = true
			}
		}
		return any
	}
	if pick(func(r Reason) bool { return r == Keep }) {
		return false
	}
	if pick(func(r Reason) bool { return r == DropDrained }) {
		return false
	}
	if p == ServeAll && !pick(func(r Reason) bool { return r == DropDown }) {
		pick(func(Reason) bool { return true })
	}
	return true
}
