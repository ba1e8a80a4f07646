package lint

import (
	"slices"
	"testing"
)

// A zone file resolves its targets as its server would (RFC 1034 section 4.3.2): a name at or below an NS
// cut is the child zone's, which the file does not hold, so nothing is said about its address; a name the
// file does not have is answered from the wildcard of its closest encloser (RFC 4592); an empty
// non-terminal exists but has no address. Issue 24 item 11.
func TestZoneResolvesLikeAServer(t *testing.T) {
	for _, c := range []struct {
		name  string
		extra string
		fire  []string // codes that must fire
		quiet []string // codes that must not
	}{
		{"target in a delegated child", "dc1 IN NS ns.dc1\nns.dc1 IN A 192.0.2.60\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp.dc1\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\n",
			nil, []string{CodeNoAddress}},
		{"target at the cut itself", "dc1 IN NS ns.dc1\nns.dc1 IN A 192.0.2.60\n_xmpps-client._tcp IN SRV 0 1 5223 dc1\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\n",
			nil, []string{CodeNoAddress}},
		{"alias into a delegated child", "dc1 IN NS ns.dc1\nns.dc1 IN A 192.0.2.60\nalias IN CNAME xmpp.dc1\n_xmpps-client._tcp IN SRV 0 1 5223 alias\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\n",
			[]string{CodeCNAMETarget}, []string{CodeNoAddress}},
		{"target under a wildcard", "*.hosts IN A 192.0.2.70\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp.hosts\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\n",
			nil, []string{CodeNoAddress}},
		{"target under a wildcard alias", "*.hosts IN CNAME xmpp1\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp.hosts\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp2\n",
			[]string{CodeCNAMETarget}, []string{CodeNoAddress}},
		// The wildcard does not cover a name whose closest encloser is below it (RFC 4592 section 2.2.1).
		{"wildcard blocked by an existing name", "*.hosts IN A 192.0.2.70\nb.hosts IN TXT \"here\"\n_xmpps-client._tcp IN SRV 0 1 5223 a.b.hosts\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\n",
			[]string{CodeNoAddress}, nil},
		{"empty non-terminal", "a.ent IN A 192.0.2.71\n_xmpps-client._tcp IN SRV 0 1 5223 ent\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\n",
			[]string{CodeNoAddress}, nil},
		{"nothing, no wildcard", "_xmpps-client._tcp IN SRV 0 1 5223 nowhere\n_xmpps-client._tcp IN SRV 0 1 5223 xmpp1\n",
			[]string{CodeNoAddress}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := zoneFindings(t, zoneHead+cleanServices+c.extra)
			got := make([]string, 0, len(fs))
			for _, f := range fs {
				got = append(got, f.Code)
			}
			for _, w := range c.fire {
				if !slices.Contains(got, w) {
					t.Errorf("no %s; findings:\n%s", w, list(fs))
				}
			}
			for _, w := range c.quiet {
				if slices.Contains(got, w) {
					t.Errorf("%s fired; findings:\n%s", w, list(fs))
				}
			}
		})
	}
}
