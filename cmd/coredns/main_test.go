package main

import (
	"slices"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"

	"github.com/srvhealth/srvhealth"
)

// TestPlugins checks what `coredns -plugins` lists: srvhealth and the stock plugins an operator needs
// next to it.
func TestPlugins(t *testing.T) {
	registered := caddy.ListPlugins()["others"]
	for _, p := range []string{"srvhealth", "log", "errors", "health", "ready", "prometheus", "reload", "loadbalance",
		"cache", "rewrite", "dnssec", "file", "auto", "hosts", "forward", "kubernetes", "template", "whoami", "metadata", "tsig"} {
		if !slices.Contains(registered, "dns."+p) {
			t.Errorf("plugin %s is not in the build", p)
		}
	}
}

// TestDirectiveOrder checks srvhealth's place: after loadbalance and tsig, right before cache, before dnssec.
func TestDirectiveOrder(t *testing.T) {
	order := srvhealth.DirectiveOrder(dnsserver.Directives)
	at := func(d string) int { return slices.Index(order, d) }
	if at("srvhealth") < 0 || at("srvhealth")+1 != at("cache") || at("srvhealth") < at("loadbalance") ||
		at("srvhealth") < at("tsig") || at("srvhealth") > at("dnssec") || at("srvhealth") > at("kubernetes") {
		t.Errorf("srvhealth at %d in %v", at("srvhealth"), order)
	}
}
