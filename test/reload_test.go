package test

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

// TestFailedReloadLeaksNothing reloads into a Corefile whose second server block cannot bind (its port is
// taken). Caddy runs the new instance's OnStartup before it binds and, when binding fails, drops the
// instance without running its OnShutdown; both of its srvhealth blocks have warm names, so they resolve
// and probe at once. Afterwards the goroutines must be back to the baseline and the registry must hold
// nothing of the dropped instance, while the running instance keeps answering. (The zones are not
// reloaded from disk: the file plugin's reload goroutine of each zone of the dropped instance is itself
// left running by CoreDNS v1.15.0.)
func TestFailedReloadLeaksNothing(t *testing.T) {
	dead := FreePort(t) // nothing listens: the probes are refused
	zone := func(origin string) string {
		return WriteFile(t, "db."+origin, `$ORIGIN `+origin+`.
$TTL 300
@   IN SOA ns hostmaster 1 7200 3600 1209600 300
@   IN NS  ns
ns  IN A   127.0.0.1
_sip._tcp IN SRV 10 10 `+dead+` sip
sip IN A   127.0.0.1
`)
	}
	block := func(origin, port string) string {
		return origin + `:` + port + ` {
		srvhealth {
			probe _sip._tcp tcp
			interval 200ms
			timeout 100ms
			warm _sip._tcp.` + origin + `
		}
		file ` + zone(origin) + ` {
			reload 0
		}
	}
	`
	}
	first := block("example.com", FreePort(t))
	s := CoreDNS(t, first)
	if !Eventually(5*time.Second, func() bool {
		return len(Exchange(t, "udp", s.UDP, "_sip._tcp.example.com.", dns.TypeSRV).Answer) == 1
	}) {
		t.Fatal("no answer from the first instance")
	}
	base := SettledGoroutines()

	// The second block's port is taken on every address, so the new instance fails to bind it.
	taken := FreePort(t)
	l, err := net.Listen("tcp", ":"+taken)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	newOnly := health.NewKey("sip.example.net.", portNumber(t, dead), probe.Method{Kind: probe.KindTCP, Transport: probe.TCP}, "example.net")
	if err := s.Restart(first + block("example.net", taken)); err == nil {
		t.Fatal("the reload bound a port that is taken")
	}

	if after := SettledGoroutines(); after > base {
		t.Errorf("goroutines: %d after the failed reload, %d before", after, base)
	}
	if health.Registered(newOnly) {
		t.Errorf("the registry still holds %s, which only the dropped instance knew", newOnly.Target)
	}
	if m := Exchange(t, "udp", s.UDP, "_sip._tcp.example.com.", dns.TypeSRV); len(m.Answer) != 1 {
		t.Errorf("the running instance answers %v after the failed reload", m)
	}
}

func portNumber(t *testing.T, port string) uint16 {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(a.Port)
}
