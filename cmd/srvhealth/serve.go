package main

import (
	"strings"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/policy"
)

// wouldServe says, on every SRV record of a live check, what the srvhealth plugin with its defaults would
// do with it given what the check found: the record policy the plugin applies to answers (package
// policy), with the target's resolution for the CNAME and no-address rules and the probes for its health.
// A target the check did not probe is judged on its resolution alone, as the plugin serves a target it has
// not probed yet.
func wouldServe(ck *Check) {
	rules := policy.Rules{DropCNAME: true, DropNoAddr: true}
	targets := map[string]TargetReport{}
	for _, t := range ck.Targets {
		targets[strings.ToLower(t.Name)] = t
	}
	type key struct {
		service, target string
		port            uint16
	}
	up, probed := map[key]bool{}, map[key]bool{}
	for _, p := range ck.Probes {
		k := key{strings.ToLower(p.Service), strings.ToLower(p.Target), p.Port}
		probed[k] = true
		up[k] = up[k] || p.Up
	}

	byName := map[string][]int{} // SRV owner -> indexes into ck.Records, in order
	var names []string
	for i, r := range ck.Records {
		if r.SRV == nil || r.SRV.Target == "." {
			continue
		}
		n := strings.ToLower(r.Name)
		if byName[n] == nil {
			names = append(names, n)
		}
		byName[n] = append(byName[n], i)
	}
	for _, n := range names {
		idx := byName[n]
		verdicts := make([]policy.Reason, len(idx))
		for j, i := range idx {
			r := &ck.Records[i]
			target := strings.ToLower(r.SRV.Target)
			var st health.Status
			known := false
			if t, ok := targets[target]; ok && t.Error == "" {
				known = true
				st.Resolved = true
				st.CNAME = t.CNAME != ""
				st.NoAddress = len(t.Addresses) == 0
			}
			if k := (key{n, target, r.SRV.Port}); probed[k] {
				known = true
				st.State = health.Down
				if up[k] {
					st.State = health.Up
				}
			}
			verdicts[j] = rules.Verdict(st, known, target, r.SRV.Port)
		}
		served := make([]bool, len(idx))
		allDown := policy.Select(len(idx), func(j int) policy.Reason { return verdicts[j] }, func(j int) { served[j] = true }, policy.ServeAll)
		for j, i := range idx {
			switch {
			case served[j] && allDown:
				ck.Records[i].Srvhealth = "serve (all down: serve_all)"
			case served[j]:
				ck.Records[i].Srvhealth = "serve"
			default:
				ck.Records[i].Srvhealth = "drop (" + verdicts[j].String() + ")"
			}
		}
	}
}
