package srvhealth

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/pkg/nonwriter"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

func mustParse(t *testing.T, input string) *Config {
	t.Helper()
	c := caddy.NewTestController("dns", input)
	cfg, err := parse(c)
	if err != nil {
		t.Fatalf("parse(%q): %v", input, err)
	}
	return cfg
}

func TestSetupDefaults(t *testing.T) {
	cfg := mustParse(t, "srvhealth example.com")
	if cfg.Interval != 10*time.Second || cfg.Timeout != 2*time.Second || cfg.Fails != 3 || cfg.Rises != 2 ||
		cfg.MaxTTL != 30*time.Second || cfg.MinTTL != 5*time.Second || !cfg.DropCNAME || !cfg.DropNoAddr ||
		cfg.MaxTargets != 10000 || cfg.Expire != 10*time.Minute || cfg.Scope.Any || len(cfg.Scope.Prefixes) != 0 {
		t.Errorf("defaults = %+v", cfg)
	}
	if len(cfg.Zones) != 1 || cfg.Zones[0] != "example.com." {
		t.Errorf("zones = %v", cfg.Zones)
	}
	want := map[string]string{
		"_sip._udp.": "sip-udp", "_sip._tcp.": "sip-tcp", "_sip._tls.": "sip-tls", "_sips._tcp.": "sip-tls",
		"_xmpp-client._tcp.": "xmpp-client", "_xmpp-server._tcp.": "xmpp-server",
		"_xmpps-client._tcp.": "xmpp-client-tls", "_xmpps-server._tcp.": "xmpp-server-tls",
	}
	if len(cfg.Services) != len(want) {
		t.Fatalf("services = %v", cfg.Services)
	}
	for _, s := range cfg.Services {
		if want[s.Label] != s.Method.String() || s.AllDown != ServeAll {
			t.Errorf("service %s: probe %s policy %s, want %s serve_all", s.Label, s.Method, s.AllDown, want[s.Label])
		}
	}
}

func TestSetup(t *testing.T) {
	tests := []struct {
		input   string
		wantErr string // empty: must parse
		check   func(*Config) bool
	}{
		// Good input.
		{input: "srvhealth", check: func(c *Config) bool { return c.Interval == defaultInterval && len(c.Services) == 8 }},
		{input: "srvhealth example.com example.net", check: func(c *Config) bool { return len(c.Zones) == 2 && c.Zones[1] == "example.net." }},
		{input: "srvhealth {\n interval 5s\n timeout 1s\n}", check: func(c *Config) bool { return c.Interval == 5*time.Second && c.Timeout == time.Second }},
		{input: "srvhealth {\n fails 5\n rises 1\n}", check: func(c *Config) bool { return c.Fails == 5 && c.Rises == 1 }},
		{input: "srvhealth {\n max_ttl 60s\n min_ttl 1s\n}", check: func(c *Config) bool { return c.MaxTTL == time.Minute && c.MinTTL == time.Second }},
		{input: "srvhealth {\n services _SIP._TCP _stun._udp _turn._tcp\n}", check: func(c *Config) bool {
			return len(c.Services) == 3 && c.Services[0].Label == "_sip._tcp." && c.Services[1].Method.Kind == probe.KindNone &&
				c.Services[2].Method.String() == "tcp"
		}},
		{input: "srvhealth {\n probe _sip._tls tls\n}", check: func(c *Config) bool { return c.service("_sip._tls.").Method.String() == "tls" }},
		{input: "srvhealth {\n probe _sip._udp none\n}", check: func(c *Config) bool { return c.service("_sip._udp.").Method.Kind == probe.KindNone }},
		{input: "srvhealth {\n probe _turn._tcp tcp\n services _turn._tcp\n}", check: func(c *Config) bool { return c.service("_turn._tcp.").Method.String() == "tcp" }},
		{input: "srvhealth {\n all_down nodata\n}", check: func(c *Config) bool { return c.service("_sip._udp.").AllDown == NoData }},
		{input: "srvhealth {\n all_down _xmpp-client._tcp unavailable\n all_down servfail\n}", check: func(c *Config) bool {
			return c.service("_xmpp-client._tcp.").AllDown == Unavailable && c.service("_sip._tcp.").AllDown == ServFail
		}},
		{input: "srvhealth {\n cname keep\n no_address keep\n}", check: func(c *Config) bool { return !c.DropCNAME && !c.DropNoAddr }},
		{input: "srvhealth {\n scope any\n}", check: func(c *Config) bool { return c.Scope.Any }},
		{input: "srvhealth {\n scope 10.0.0.0/8 2001:db8::/32\n}", check: func(c *Config) bool { return len(c.Scope.Prefixes) == 2 }},
		{input: "srvhealth {\n max_targets 50\n expire 1h\n}", check: func(c *Config) bool { return c.MaxTargets == 50 && c.Expire == time.Hour }},
		{input: "srvhealth example.com {\n warm _sip._udp.example.com _xmpp-client._tcp.example.com.\n}", check: func(c *Config) bool {
			return len(c.Warm) == 2 && c.Warm[0] == "_sip._udp.example.com."
		}},
		{input: "srvhealth {\n tls_verify\n}", check: func(c *Config) bool { return c.TLSVerify && c.CAFile == "" }},
		{input: "srvhealth {\n sip_fail_codes 503 404\n}", check: func(c *Config) bool { return len(c.SIPFailCodes) == 2 && c.SIPFailCodes[1] == 404 }},
		{input: "srvhealth {\n services _sip._sctp _foo._sctp\n probe _sip._sctp none\n}", check: func(c *Config) bool {
			return c.service("_sip._sctp.").Method.Kind == probe.KindNone && c.service("_foo._sctp.").Method.Kind == probe.KindNone
		}},
		{input: "srvhealth {\n probe _sip._tcp tcp\n}", check: func(c *Config) bool { return c.service("_sip._tcp.").Method.String() == "tcp" }},
		{input: "srvhealth {\n scope ::ffff:10.0.0.0/104\n}", check: func(c *Config) bool {
			return len(c.Scope.Prefixes) == 1 && c.Scope.Prefixes[0].String() == "10.0.0.0/8"
		}},
		{input: "srvhealth {\n drain sip1.example.com SIP2.example.com.:5061\n}", check: func(c *Config) bool {
			return len(c.Drains) == 2 && c.Drains[0] == Drain{Target: "sip1.example.com."} && c.Drains[1] == Drain{Target: "sip2.example.com.", Port: 5061}
		}},
		{input: "srvhealth {\n status\n}", check: func(c *Config) bool { return len(c.StatusAllow) == 2 && c.StatusAllow[0].String() == "127.0.0.0/8" }},
		{input: "srvhealth {\n status 10.0.0.0/8 2001:db8::1/64\n}", check: func(c *Config) bool {
			return len(c.StatusAllow) == 2 && c.StatusAllow[1].String() == "2001:db8::/64"
		}},
		{input: "srvhealth {\n status ::ffff:127.0.0.0/104\n}", check: func(c *Config) bool {
			return len(c.StatusAllow) == 1 && c.StatusAllow[0].String() == "127.0.0.0/8"
		}},
		{input: "srvhealth {\n filter_addresses\n}", check: func(c *Config) bool { return c.FilterAddresses }},
		{input: "srvhealth . {\n scope any\n}", check: func(c *Config) bool { return c.Scope.Any && c.Zones[0] == "." }},
		{input: "srvhealth . {\n scope 192.0.2.0/24\n}", check: func(c *Config) bool { return len(c.Scope.Prefixes) == 1 }},

		// Bad input: each error names the property.
		{input: "srvhealth {\n bogus 1\n}", wantErr: `unknown property "bogus"`},
		{input: "srvhealth {\n interval\n}", wantErr: "interval: want a duration, got 0"},
		{input: "srvhealth {\n interval 1s 2s\n}", wantErr: "interval: want a duration, got 2"},
		{input: "srvhealth {\n interval ten\n}", wantErr: `interval: "ten" is not a positive duration`},
		{input: "srvhealth {\n timeout -1s\n}", wantErr: `timeout: "-1s" is not a positive duration`},
		{input: "srvhealth {\n max_ttl 0s\n}", wantErr: `max_ttl: "0s" is not a positive duration`},
		{input: "srvhealth {\n fails 0\n}", wantErr: `fails: "0" is not a positive integer`},
		{input: "srvhealth {\n rises -2\n}", wantErr: `rises: "-2" is not a positive integer`},
		{input: "srvhealth {\n max_targets many\n}", wantErr: `max_targets: "many" is not a positive integer`},
		{input: "srvhealth {\n services\n}", wantErr: "services: want at least one"},
		{input: "srvhealth {\n services sip.tcp\n}", wantErr: `services: "sip.tcp" is not a service label`},
		{input: "srvhealth {\n services _sip._tcp _sip._tcp\n}", wantErr: "services: _sip._tcp listed twice"},
		{input: "srvhealth {\n probe _sip._tcp icmp\n}", wantErr: `probe: unknown kind "icmp"`},
		{input: "srvhealth {\n probe _sip._tcp\n}", wantErr: "probe: want SERVICE KIND, got 1"},
		{input: "srvhealth {\n probe _ldap._tcp tcp\n}", wantErr: "probe: service _ldap._tcp. is not in services"},
		{input: "srvhealth {\n probe _stun._udp tcp\n services _stun._udp\n}", wantErr: "probe: _stun._udp is a UDP service"},
		{input: "srvhealth {\n all_down maybe\n}", wantErr: `all_down: unknown policy "maybe"`},
		{input: "srvhealth {\n all_down _sip._tcp nodata servfail\n}", wantErr: "all_down: want [SERVICE]"},
		{input: "srvhealth {\n all_down _ldap._tcp nodata\n}", wantErr: "all_down: service _ldap._tcp. is not in services"},
		{input: "srvhealth {\n cname remove\n}", wantErr: `cname: unknown action "remove"`},
		{input: "srvhealth {\n no_address\n}", wantErr: "no_address: want drop or keep"},
		{input: "srvhealth {\n scope 10.0.0.0/33\n}", wantErr: `scope: "10.0.0.0/33" is not a CIDR`},
		{input: "srvhealth {\n scope any 10.0.0.0/8\n}", wantErr: `scope: "any" is not a CIDR`},
		{input: "srvhealth {\n scope\n}", wantErr: "scope: want zones, any or one or more CIDRs"},
		{input: "srvhealth {\n warm example.com\n}", wantErr: `warm: "example.com" is not an SRV name`},
		{input: "srvhealth example.com {\n warm _sip._tcp.example.org\n}", wantErr: "warm: _sip._tcp.example.org. is not a configured service"},
		{input: "srvhealth {\n tls_verify /nonexistent/ca.pem\n}", wantErr: "tls_verify: CA file"},
		{input: "srvhealth {\n sip_fail_codes 180\n}", wantErr: `sip_fail_codes: "180" is not a final SIP status code`},
		{input: "srvhealth {\n sip_fail_codes\n}", wantErr: "sip_fail_codes: want one or more"},
		{input: "srvhealth {\n interval 2s\n timeout 2s\n}", wantErr: "timeout: 2s must be below interval 2s"},
		{input: "srvhealth {\n min_ttl 40s\n}", wantErr: "min_ttl: 40s must not be above max_ttl 30s"},
		{input: "srvhealth {\n expire 5s\n}", wantErr: "expire: 5s must not be below interval 10s"},
		{input: "srvhealth {\n fails 2\n fails 3\n}", wantErr: "fails: property given twice"},
		{input: "srvhealth\nsrvhealth", wantErr: "plugin can only be used once"},
		{input: "srvhealth {\n drain\n}", wantErr: "drain: want at least one TARGET"},
		{input: "srvhealth {\n status localhost\n}", wantErr: `status: "localhost" is not a CIDR`},
		{input: "srvhealth {\n filter_addresses yes\n}", wantErr: "filter_addresses: want no arguments, got 1"},
		{input: "srvhealth {\n drain sip1.example.com:sip\n}", wantErr: `drain: "sip" is not a port`},
		{input: "srvhealth {\n drain sip1.example.com:70000\n}", wantErr: `drain: "70000" is not a port`},
		{input: "srvhealth {\n drain :5060\n}", wantErr: `drain: "" is not a target name`},
		{input: "srvhealth {\n max_ttl 10s\n min_ttl 500ms\n}", wantErr: "min_ttl: 500ms is below one second"},
		{input: "srvhealth {\n services _sip._sctp\n}", wantErr: "services: _sip._sctp: no sip probe runs over sctp"},
		{input: "srvhealth {\n services _xmpp-client._udp\n}", wantErr: "services: _xmpp-client._udp:"},
		{input: "srvhealth {\n services _sip._sctp\n probe _sip._sctp tcp\n}", wantErr: "probe: no tcp probe runs over sctp"},
		{input: "srvhealth {\n probe _sip._tcp tcp\n probe _sip._tcp none\n}", wantErr: "probe: _sip._tcp given twice"},
		{input: "srvhealth {\n all_down nodata\n all_down servfail\n}", wantErr: "all_down: the policy for every service given twice"},
		{input: "srvhealth {\n all_down _sip._tcp nodata\n all_down _SIP._tcp servfail\n}", wantErr: "all_down: the policy for _SIP._tcp given twice"},
		{input: "srvhealth {\n scope ::ffff:10.0.0.0/80\n}", wantErr: "covers more than the IPv4-mapped block"},
		{input: "srvhealth {\n status ::ffff:10.0.0.0/80\n}", wantErr: `status: "::ffff:10.0.0.0/80" covers more than the IPv4-mapped block`},
		{input: "srvhealth . {\n interval 5s\n}", wantErr: "scope: with the root zone . the default scope zones would probe any host"},
		{input: "srvhealth . example.com {\n scope zones\n}", wantErr: "list the CIDRs of your SIP/XMPP servers"},
	}
	for _, tc := range tests {
		c := caddy.NewTestController("dns", tc.input)
		cfg, err := parse(c)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%q: unexpected error %v", tc.input, err)
			} else if !tc.check(cfg) {
				t.Errorf("%q: parsed to %+v", tc.input, cfg)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q: want error containing %q, got none", tc.input, tc.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: error %q, want it to contain %q", tc.input, err, tc.wantErr)
		}
		// Errors from the block carry the file and line (Testfile:N) so the user can find the mistake.
		if strings.Contains(tc.input, "{") && !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%q: error %q does not name the Corefile line", tc.input, err)
		}
	}
}

func TestSetupErrorNamesLine(t *testing.T) {
	c := caddy.NewTestController("dns", "srvhealth {\n interval 5s\n\n rises zero\n}")
	_, err := parse(c)
	if err == nil || !strings.Contains(err.Error(), "Testfile:4") || !strings.Contains(err.Error(), "rises") {
		t.Fatalf("error %v, want it to name Testfile:4 and rises", err)
	}
}

func TestDirectiveOrder(t *testing.T) {
	got := DirectiveOrder([]string{"log", "loadbalance", "tsig", "rewrite", "cache", "dnssec", "file"})
	want := []string{"log", "loadbalance", "tsig", "rewrite", "srvhealth", "cache", "dnssec", "file"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("DirectiveOrder = %v, want %v", got, want)
	}
}

// TestScopeIPv4Mapped checks that a scope written as an IPv4-mapped prefix matches the IPv4 addresses it
// means, however the address was resolved.
func TestScopeIPv4Mapped(t *testing.T) {
	in := scopeFunc(mustParse(t, "srvhealth {\n scope ::ffff:10.0.0.0/104\n}").Scope)
	for a, want := range map[string]bool{"10.1.2.3": true, "::ffff:10.1.2.3": true, "11.0.0.1": false, "::1": false} {
		if got := in(netip.MustParseAddr(a)); got != want {
			t.Errorf("scope ::ffff:10.0.0.0/104 contains %s = %v, want %v", a, got, want)
		}
	}
}

func TestUnderZones(t *testing.T) {
	zones := []string{"example.com."}
	for name, want := range map[string]bool{
		"example.com.":              true,
		"_sip._tcp.example.com.":    true,
		"_SIP._TCP.EXAMPLE.COM.":    true,
		"badexample.com.":           false,
		"example.org.":              false,
		"com.":                      false,
		`x\.example.com.`:           false, // one label "x.example" under com.
		`x\\.example.com.`:          true,  // the label "x\" under example.com.
		`_sip._tcp.x\.example.com.`: false,
	} {
		if got := underZones(name, zones); got != want {
			t.Errorf("underZones(%q, %v) = %v, want %v", name, zones, got, want)
		}
	}
	if !underZones("anything.example.", []string{"."}) {
		t.Error("every name is under the root zone")
	}
}

func TestProbeOptionsSIPFailCodes(t *testing.T) {
	o := mustParse(t, "srvhealth {\n sip_fail_codes 404 503\n}").Probe
	for code, want := range map[int]bool{200: true, 404: false, 503: false, 480: true, 100: false} {
		if got := o.SIPAccept(code); got != want {
			t.Errorf("SIPAccept(%d) = %v, want %v", code, got, want)
		}
	}
	if o := mustParse(t, "srvhealth").Probe; o.SIPAccept != nil {
		t.Error("without sip_fail_codes the probe's default must apply")
	}
}

func TestMaxPerServerProperty(t *testing.T) {
	if got := mustParse(t, "srvhealth example.com").MaxPerServer; got != health.DefaultMaxPerServer {
		t.Errorf("default max_per_server %d, want %d", got, health.DefaultMaxPerServer)
	}
	if got := mustParse(t, "srvhealth example.com {\n max_per_server 4\n}").MaxPerServer; got != 4 {
		t.Errorf("max_per_server 4 parsed as %d", got)
	}
	for _, bad := range []string{"0", "-1", "many", ""} {
		if _, err := parse(caddy.NewTestController("dns", "srvhealth example.com {\n max_per_server "+bad+"\n}")); err == nil ||
			!strings.Contains(err.Error(), "max_per_server") {
			t.Errorf("max_per_server %q: error %v, want one naming max_per_server", bad, err)
		}
	}
}

func TestMaxInFlightProperty(t *testing.T) {
	if got := mustParse(t, "srvhealth example.com").MaxInFlight; got != health.DefaultMaxInFlight {
		t.Errorf("default max_in_flight %d, want %d", got, health.DefaultMaxInFlight)
	}
	if got := mustParse(t, "srvhealth example.com {\n max_in_flight 100\n}").MaxInFlight; got != 100 {
		t.Errorf("max_in_flight 100 parsed as %d", got)
	}
	for _, bad := range []string{"0", "-1", "many"} {
		if _, err := parse(caddy.NewTestController("dns", "srvhealth example.com {\n max_in_flight "+bad+"\n}")); err == nil ||
			!strings.Contains(err.Error(), "max_in_flight") {
			t.Errorf("max_in_flight %s: error %v, want one naming max_in_flight", bad, err)
		}
	}
}

// named is a plugin of the block after srvhealth, standing in for one CoreDNS looks up by name (minimal,
// forward): it answers with answer(r), or hands r to its next plugin when answer is nil.
type named struct {
	name   string
	next   plugin.Handler
	answer func(r *dns.Msg) *dns.Msg
	strip  bool // minimal's rewrite: no authority, no additional section
}

func (n *named) Name() string { return n.name }

func (n *named) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if n.answer != nil {
		m := n.answer(r)
		w.WriteMsg(m)
		return m.Rcode, nil
	}
	if !n.strip {
		return n.next.ServeDNS(ctx, w, r)
	}
	nw := nonwriter.New(w)
	rcode, err := n.next.ServeDNS(ctx, nw, r)
	if nw.Msg != nil {
		nw.Msg.Ns, nw.Msg.Extra = nil, nil
		w.WriteMsg(nw.Msg)
	}
	return rcode, err
}

// blockServer sets up srvhealth from corefile the way CoreDNS does, puts the plugins after it in the
// block, and builds the server for the zone example.com; the handler reads view instead of its monitor.
// The server is never started: tests call its ServeDNS, which is what the listener calls.
func blockServer(t *testing.T, corefile string, view View, after ...*named) (*dnsserver.Server, *Handler) {
	t.Helper()
	c := caddy.NewTestController("dns", corefile)
	if err := setup(c); err != nil {
		t.Fatal(err)
	}
	cfg := dnsserver.GetConfig(c)
	cfg.Zone = "example.com."
	for _, n := range after {
		cfg.AddPlugin(func(next plugin.Handler) plugin.Handler { n.next = next; return n })
	}
	s, err := dnsserver.NewServer("dns://:0", []*dnsserver.Config{cfg})
	if err != nil {
		t.Fatal(err)
	}
	h, ok := cfg.Handler(pluginName).(*Handler)
	if !ok {
		t.Fatal("no srvhealth handler in the block")
	}
	t.Cleanup(h.monitor.Stop)
	h.view = view
	return s, h
}

// ask sends the server one question of class class from the client at ip and returns the reply.
func ask(t *testing.T, s *dnsserver.Server, ip, name string, qtype, class uint16) *dns.Msg {
	t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	req.Question[0].Qclass = class
	rec := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: ip})
	s.ServeDNS(context.Background(), rec, req)
	if rec.Msg == nil {
		t.Fatalf("%s %s %s: no reply", dns.ClassToString[class], dns.TypeToString[qtype], name)
	}
	return rec.Msg
}

// backend is the zone's data for any class asked: what a file or forward plugin after srvhealth answers.
func backend(r *dns.Msg) *dns.Msg {
	switch r.Question[0].Qtype {
	case dns.TypeSRV:
		return sipAnswer(r)
	case dns.TypeA:
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{test.A("sip1.example.com. 300 IN A 192.0.2.1")}
		return m
	}
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeNameError)
	return m
}

// TestChaosOnlyWithStatus: CoreDNS refuses every class but IN unless a plugin of the block answers it.
// srvhealth answers CH only for its status, so without status CH stays closed, and with it only the status
// names get an answer from it; other CH questions get the REFUSED the server would give without srvhealth.
// Whatever the class, nothing but IN is filtered: an answer's class is its question's (RFC 1035 §4.1.1,
// RFC 2181 §6), and the health srvhealth knows is of IN data.
func TestChaosOnlyWithStatus(t *testing.T) {
	t.Run("no status", func(t *testing.T) {
		s, _ := blockServer(t, "srvhealth example.com", &fakeView{status: allDown}, &named{name: "file", answer: backend})
		if m := ask(t, s, "127.0.0.1", "sip1.example.com.", dns.TypeA, dns.ClassCHAOS); m.Rcode != dns.RcodeRefused {
			t.Errorf("CH A sip1: rcode %s answer %v, want REFUSED", dns.RcodeToString[m.Rcode], m.Answer)
		}
		if m := ask(t, s, "127.0.0.1", "_sip._tcp.example.com.", dns.TypeSRV, dns.ClassINET); len(targets(m)) != 3 {
			t.Errorf("IN SRV: %v, want the three (all down, serve_all)", targets(m))
		}
	})
	t.Run("status", func(t *testing.T) {
		s, _ := blockServer(t, "srvhealth example.com {\nstatus\nall_down nodata\n}", &fakeView{status: allDown}, &named{name: "file", answer: backend})
		if m := ask(t, s, "127.0.0.1", "srvhealth.example.com.", dns.TypeTXT, dns.ClassCHAOS); m.Rcode != dns.RcodeSuccess || !m.Authoritative {
			t.Errorf("CH TXT srvhealth.example.com: rcode %s aa %v, want the status", dns.RcodeToString[m.Rcode], m.Authoritative)
		}
		for _, q := range []struct {
			name  string
			qtype uint16
		}{{"sip1.example.com.", dns.TypeA}, {"_sip._tcp.example.com.", dns.TypeSRV}} {
			if m := ask(t, s, "127.0.0.1", q.name, q.qtype, dns.ClassCHAOS); m.Rcode != dns.RcodeRefused || len(m.Answer) != 0 {
				t.Errorf("CH %s %s: rcode %s answer %v, want REFUSED", dns.TypeToString[q.qtype], q.name, dns.RcodeToString[m.Rcode], m.Answer)
			}
		}
		if m := ask(t, s, "127.0.0.1", "_sip._tcp.example.com.", dns.TypeSRV, dns.ClassINET); len(m.Answer) != 0 {
			t.Errorf("IN SRV, every target down, nodata: %v, want no records", m.Answer)
		}
	})
	t.Run("status and a plugin that answers CH", func(t *testing.T) {
		s, _ := blockServer(t, "srvhealth example.com {\nstatus\nall_down nodata\n}", &fakeView{status: allDown}, &named{name: "forward", answer: backend})
		if m := ask(t, s, "127.0.0.1", "_sip._tcp.example.com.", dns.TypeSRV, dns.ClassCHAOS); len(targets(m)) != 3 {
			t.Errorf("CH SRV: %v, want forward's answer unfiltered", targets(m))
		}
	})
}

func TestShadowProperty(t *testing.T) {
	if mustParse(t, "srvhealth example.com").Shadow {
		t.Error("shadow on by default")
	}
	if !mustParse(t, "srvhealth example.com {\n shadow\n}").Shadow {
		t.Error("shadow not parsed")
	}
	if _, err := parse(caddy.NewTestController("dns", "srvhealth example.com {\n shadow on\n}")); err == nil || !strings.Contains(err.Error(), "shadow") {
		t.Errorf("shadow on: error %v, want one naming shadow", err)
	}
}
