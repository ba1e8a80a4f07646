package main

import "testing"

// TestWouldServe: a live check says what the plugin would serve, by the plugin's own record policy: a
// dead target dropped, an alias dropped, a target without address dropped, one not probed kept; and when
// every target is dead, serve_all serves the dead ones.
func TestWouldServe(t *testing.T) {
	srv := func(name, target string, port uint16) RecordReport {
		return RecordReport{Name: name, Type: "SRV", SRV: &SRVField{Port: port, Target: target}}
	}
	ck := Check{
		Records: []RecordReport{
			srv("_sip._udp.example.com.", "up.example.com.", 5060),
			srv("_sip._udp.example.com.", "dead.example.com.", 5060),
			srv("_sip._udp.example.com.", "alias.example.com.", 5060),
			srv("_sip._udp.example.com.", "bare.example.com.", 5060),
			srv("_sip._udp.example.com.", "unprobed.example.com.", 5060),
			srv("_xmpp-client._tcp.example.com.", "dead.example.com.", 5222),
			srv("_xmpp-client._tcp.example.com.", "UP.example.com.", 5223),
			{Name: "example.com.", Type: "NAPTR"},
		},
		Targets: []TargetReport{
			{Name: "up.example.com.", Exists: true, Addresses: []string{"192.0.2.1"}},
			{Name: "dead.example.com.", Exists: true, Addresses: []string{"192.0.2.2"}},
			{Name: "alias.example.com.", Exists: true, CNAME: "up.example.com.", Addresses: []string{"192.0.2.1"}},
			{Name: "bare.example.com.", Exists: true, Addresses: []string{}},
			{Name: "unprobed.example.com.", Exists: true, Addresses: []string{"192.0.2.5"}},
		},
		Probes: []ProbeReport{
			{Service: "_sip._udp.example.com.", Target: "up.example.com.", Port: 5060, Up: true},
			{Service: "_sip._udp.example.com.", Target: "dead.example.com.", Port: 5060},
			{Service: "_sip._udp.example.com.", Target: "alias.example.com.", Port: 5060, Up: true},
			{Service: "_xmpp-client._tcp.example.com.", Target: "dead.example.com.", Port: 5222},
			{Service: "_xmpp-client._tcp.example.com.", Target: "up.example.com.", Port: 5223},
		},
	}
	wouldServe(&ck)
	want := []string{"serve", "drop (down)", "drop (cname)", "drop (no_address)", "serve",
		"serve (all down: serve_all)", "serve (all down: serve_all)", ""}
	for i, r := range ck.Records {
		if r.Srvhealth != want[i] {
			t.Errorf("%s %v: %q, want %q", r.Name, r.SRV, r.Srvhealth, want[i])
		}
	}
}
