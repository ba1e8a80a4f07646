package lint

import (
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Drain is a drain line's target of a srvhealth block, as the plugin reads it (TARGET[:PORT]).
type Drain struct {
	Target string // fully qualified, lower case
	Port   uint16 // 0: every port
	Line   int    // in the Corefile; 0 when unknown
}

func (d Drain) String() string {
	if d.Port == 0 {
		return strings.TrimSuffix(d.Target, ".")
	}
	return strings.TrimSuffix(d.Target, ".") + ":" + strconv.Itoa(int(d.Port))
}

// CheckDrains judges the drains of one srvhealth block: a target that is not under the block's zones
// (the plugin filters only answers for names under them; a target outside them can still be listed by
// a record inside, so this is about a name that cannot be one of the block's own hosts, most often a typo
// in the zone part), and, when seen is not nil, a target and port that no SRV record checked names.
// seen reports whether some SRV record names target (lower case, fully qualified) with port, any port
// when port is 0.
func CheckDrains(zones []string, drains []Drain, seen func(target string, port uint16) bool) []Finding {
	var fs []Finding
	for _, d := range drains {
		under := false
		for _, z := range zones {
			under = under || dns.IsSubDomain(z, d.Target)
		}
		switch {
		case seen != nil && seen(d.Target, d.Port):
		case !under && seen != nil:
			fs = append(fs, newFinding(CodeDrainOutside, d.Target,
				"drain %s: not under the block's zones (%s) and named by no SRV record checked: the drain does nothing; check the name", d, strings.Join(zones, " ")).onLine(d.Line))
		case !under:
			fs = append(fs, newFinding(CodeDrainOutside, d.Target,
				"drain %s: not under the block's zones (%s): the drain does nothing unless a record under them names it; check the name", d, strings.Join(zones, " ")).onLine(d.Line))
		case seen != nil:
			what := "no SRV record checked names it"
			if d.Port != 0 && seen(d.Target, 0) {
				what = "no SRV record checked names it with port " + strconv.Itoa(int(d.Port))
			}
			fs = append(fs, newFinding(CodeDrainUnseen, d.Target,
				"drain %s: %s, so the drain takes nothing out of the answers: a typo, or a record already removed", d, what).onLine(d.Line))
		}
	}
	return fs
}
