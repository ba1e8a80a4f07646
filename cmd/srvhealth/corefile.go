package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/coredns/caddy/caddyfile"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/lint"
)

// srvhealthBlock is what check reads of one server block's srvhealth directive: its zones (its arguments,
// or the block's keys, as CoreDNS takes them) and its drains.
type srvhealthBlock struct {
	zones  []string
	drains []lint.Drain
}

// readCorefile reads the srvhealth directives of a Corefile with CoreDNS's own parser (caddyfile), so
// that snippets and imports count as they do for the server.
func readCorefile(path string) ([]srvhealthBlock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sbs, err := caddyfile.Parse(path, f, nil) // every directive: only srvhealth is read
	if err != nil {
		return nil, err
	}
	var out []srvhealthBlock
	for _, sb := range sbs {
		toks, ok := sb.Tokens["srvhealth"]
		if !ok {
			continue
		}
		var keys []string
		for _, k := range sb.Keys {
			keys = append(keys, zoneOfKey(k))
		}
		d := caddyfile.NewDispenserTokens(path, toks)
		for d.Next() { // each srvhealth directive of the block
			b := srvhealthBlock{zones: keys}
			if args := d.RemainingArgs(); len(args) > 0 {
				b.zones = nil
				for _, a := range args {
					b.zones = append(b.zones, zoneOfKey(a))
				}
			}
			for d.NextBlock() {
				if d.Val() != "drain" {
					d.RemainingArgs()
					continue
				}
				line := d.Line()
				for _, a := range d.RemainingArgs() {
					dr, err := parseDrain(a)
					if err != nil {
						return nil, fmt.Errorf("%s:%d: drain: %v", path, line, err)
					}
					dr.Line = line
					b.drains = append(b.drains, dr)
				}
			}
			out = append(out, b)
		}
	}
	return out, nil
}

// zoneOfKey is the zone of a server block key or a zone argument: "dns://example.com:1053" is
// example.com., "." the root.
func zoneOfKey(k string) string {
	if _, rest, ok := strings.Cut(k, "://"); ok {
		k = rest
	}
	if i := strings.LastIndexByte(k, ':'); i >= 0 && !strings.Contains(k[:i], ":") {
		k = k[:i]
	}
	if k == "" {
		k = "."
	}
	return dns.Fqdn(strings.ToLower(k))
}

// parseDrain reads TARGET[:PORT] as the plugin does.
func parseDrain(s string) (lint.Drain, error) {
	name, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		name, port = s[:i], s[i+1:]
	}
	n, ok := dnsName(name)
	if !ok || n == "." {
		return lint.Drain{}, fmt.Errorf("%q is not a target name", name)
	}
	d := lint.Drain{Target: n}
	if port != "" {
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return lint.Drain{}, fmt.Errorf("%q is not a port (1-65535)", port)
		}
		d.Port = uint16(p)
	}
	return d, nil
}

// checkCorefile judges the drains of a Corefile's srvhealth blocks against the records of the other
// checks of the run: a block's drains are compared with the SRV records of the checks whose zone or
// domain is under the block's zones; a block no check covers gets only the zones rule.
func checkCorefile(path string, checks []Check) Check {
	ck := newCheck()
	ck.File = path
	blocks, err := readCorefile(path)
	if err != nil {
		ck.Error = err.Error()
		return ck
	}
	for _, b := range blocks {
		covered := false
		seen := map[string]bool{} // "target:port" and "target:0"
		for _, c := range checks {
			z := firstOf(c.Zone, c.Domain)
			if z == "" || c.Error != "" || !under(z, b.zones) {
				continue
			}
			covered = true
			for _, rec := range c.Records {
				if rec.SRV == nil || len(rec.On) == 0 && c.File == "" {
					continue // a record only a --server served is not the zone's
				}
				seen[rec.SRV.Target+":"+strconv.Itoa(int(rec.SRV.Port))] = true
				seen[rec.SRV.Target+":0"] = true
			}
		}
		var fn func(string, uint16) bool
		if covered {
			fn = func(target string, port uint16) bool { return seen[target+":"+strconv.Itoa(int(port))] }
		}
		ck.Findings = append(ck.Findings, lint.CheckDrains(b.zones, b.drains, fn)...)
	}
	lint.Sort(ck.Findings)
	return ck
}

func under(name string, zones []string) bool {
	for _, z := range zones {
		if dns.IsSubDomain(z, name) {
			return true
		}
	}
	return false
}
