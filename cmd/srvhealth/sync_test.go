package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/internal/fakepeer"
	"github.com/srvhealth/srvhealth/policy"
	"github.com/srvhealth/srvhealth/probe"
	"github.com/srvhealth/srvhealth/zonesync"
)

func TestSyncFlags(t *testing.T) {
	zone := filepath.Join(t.TempDir(), "db")
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--zone", zone, "--update", "127.0.0.1:53"}, ""},
		{[]string{"--update", "127.0.0.1:53"}, "--zone FILE is required"},
		{[]string{"--zone", zone}, "exactly one of"},
		{[]string{"--zone", zone, "--update", "x", "--route53", "Z1"}, "exactly one of"},
		{[]string{"--zone", zone, "--route53", "Z1", "--tsig", "k"}, "--tsig goes with --update"},
		{[]string{"--zone", zone, "--update", "x", "--probe", "_sip._udp=tcp"}, "only sip or none"},
		{[]string{"--zone", zone, "--update", "x", "--probe", "sip=tcp"}, "SERVICE=KIND"},
		{[]string{"--zone", zone, "--update", "x", "--scope", "10.0.0.0/8,nonsense"}, "not zones, any or a CIDR"},
		{[]string{"--zone", zone, "--update", "x", "--all-down", "maybe"}, "want serve_all"},
		{[]string{"--zone", zone, "--update", "x", "--fails", "0"}, "at least 1"},
	}
	for _, tc := range tests {
		o, err := parseSync(tc.args, io.Discard)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.wantErr)
		case err == nil && (o.interval != health.DefaultInterval || o.timeout != health.DefaultTimeout || o.fails != health.DefaultFails ||
			o.rises != health.DefaultRises || o.allDown != policy.ServeAll || o.scope != "zones"):
			t.Errorf("defaults %+v, want the plugin's", o)
		}
	}
}

const syncZone = `$ORIGIN example.com.
$TTL 300
@ IN SOA ns hostmaster 1 7200 3600 1209600 300
_sip._tcp 600 IN SRV 10 60 5060 a.example.com.
_sip._tcp 300 IN SRV 10 40 5060 B.example.com.
_xmpp-client._tcp IN SRV 5 0 5222 x.example.com.
_minecraft._tcp IN SRV 0 0 25565 mc.example.com.
www IN TXT "ignored"
`

func TestSyncReadDesired(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(path, []byte(syncZone), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &syncOptions{zone: path, probes: map[string]probe.Kind{"_sip._tcp.": probe.KindTCP}, maxTTL: time.Minute}
	z, err := readDesired(o)
	if err != nil {
		t.Fatal(err)
	}
	if z.origin != "example.com." || len(z.sets) != 2 {
		t.Fatalf("origin %s, sets %v; want example.com. and the two services srvhealth knows", z.origin, z.sets)
	}
	sip := z.sets[0]
	if sip.rrset.String() != "[10 40 5060 b.example.com., 10 60 5060 a.example.com.] ttl 60" || sip.domain != "example.com" ||
		sip.method != (probe.Method{Kind: probe.KindTCP, Transport: probe.TCP}) {
		t.Errorf("_sip._tcp: %s, domain %q, method %v", sip.rrset, sip.domain, sip.method)
	}
	if x := z.sets[1]; x.method.Kind != probe.KindXMPPClient {
		t.Errorf("_xmpp-client._tcp probe %v, want the natural xmpp-client", x.method)
	}
	o.probes["_minecraft._tcp."] = probe.KindTCP
	if z, _ := readDesired(o); len(z.sets) != 3 {
		t.Errorf("--probe _minecraft._tcp=tcp does not add the service: %d sets", len(z.sets))
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte(syncZone+"oops IN SRV nonsense\n"), 0o644)
	if _, err := readDesired(&syncOptions{zone: bad}); err == nil || !strings.Contains(err.Error(), "does not read cleanly") {
		t.Errorf("a broken file: %v", err)
	}
}

// TestSyncJudge: the record policy as sync applies it.
func TestSyncJudge(t *testing.T) {
	s := desiredSet{rrset: zonesync.RRset{Name: "_sip._tcp.example.com.", TTL: 60, Records: []zonesync.SRV{
		{Priority: 10, Weight: 60, Port: 5060, Target: "a.example.com."},
		{Priority: 10, Weight: 40, Port: 5060, Target: "b.example.com."},
		{Priority: 20, Weight: 0, Port: 5060, Target: "c.other.net."},
	}}, domain: "example.com", method: probe.Method{Kind: probe.KindTCP, Transport: probe.TCP}}
	up := health.Status{State: health.Up, Resolved: true}
	down := health.Status{State: health.Down, Resolved: true}
	underZone := func(t string) bool { return strings.HasSuffix(t, ".example.com.") }
	tests := []struct {
		name    string
		a, b    health.Status
		scope   func(string) bool
		allDown policy.AllDown
		want    string
		wantAll bool
	}{
		{"all up", up, up, underZone, policy.ServeAll, "a b c", false},
		{"b down", up, down, underZone, policy.ServeAll, "a c", false},
		{"a a CNAME", health.Status{State: health.Up, Resolved: true, CNAME: true}, up, underZone, policy.ServeAll, "b c", false},
		{"a without address", health.Status{Resolved: true, NoAddress: true}, up, underZone, policy.ServeAll, "b c", false},
		{"the only in-scope targets down: c, unprobed, stays", down, down, underZone, policy.ServeAll, "c", false},
		{"all down, serve_all", down, down, func(string) bool { return true }, policy.ServeAll, "a b c", true},
		{"all down, unavailable", down, down, func(string) bool { return true }, policy.Unavailable, ".", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(k health.Key, _ string) (health.Status, bool) {
				switch k.Target {
				case "a.example.com.":
					return tc.a, true
				case "b.example.com.":
					return tc.b, true
				}
				return down, true // c: only when in scope
			}
			got, _, all := judge(s, &policy.Rules{DropCNAME: true, DropNoAddr: true}, tc.allDown, tc.scope, check)
			var names []string
			for _, r := range got.Records {
				names = append(names, strings.SplitN(r.Target, ".", 2)[0])
			}
			slices.Sort(names)
			if tc.want == "." {
				names = []string{"."}
			}
			if strings.Join(names, " ") != tc.want || all != tc.wantAll || got.TTL != 60 || !got.Exists() {
				t.Errorf("judge = %v (all down %v), want %s (all down %v)", got, all, tc.want, tc.wantAll)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer that the command writes and the test reads at the same time.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSyncStops runs sync in-process, dry, against a fake primary, with a SIP target that answers OPTIONS
// and one whose port is closed: it prints the one change, and once its context ends it returns and leaves
// no goroutine behind (the monitor, its probes, the metrics server).
func TestSyncStops(t *testing.T) {
	sip, err := fakepeer.ListenTCP("127.0.0.1:0", fakepeer.SIPStream(fakepeer.Answer("200 OK")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sip.Close)
	dead := fakepeer.ClosedPort(t)
	live := strconv.Itoa(int(sip.Addr().Port()))
	zone := `$ORIGIN example.com.
$TTL 300
@ IN SOA ns hostmaster 1 7200 3600 1209600 300
sip1 IN A 127.0.0.1
sip2 IN A 127.0.0.1
_sip._tcp IN SRV 10 60 ` + live + ` sip1.example.com.
_sip._tcp IN SRV 10 40 ` + strconv.Itoa(int(dead.Port())) + ` sip2.example.com.
`
	ns := "127.0.60.1:" + strconv.Itoa(startNS(t, nil, zone))
	path := filepath.Join(t.TempDir(), "db")
	os.WriteFile(path, []byte(zone), 0o644)
	o, err := parseSync([]string{"--zone", path, "--update", ns, "--resolver", ns, "--dry-run", "--metrics", "127.0.0.1:0",
		"--interval", "100ms", "--timeout", "300ms", "--fails", "1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	leaks := goleak.IgnoreCurrent()
	var stdout, stderr lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- syncMain(ctx, o, &stdout, &stderr) }()
	want := "would change _sip._tcp.example.com. SRV [10 40 " + strconv.Itoa(int(dead.Port())) + " sip2.example.com., 10 60 " + live +
		" sip1.example.com.] ttl 300 -> [10 60 " + live + " sip1.example.com.] ttl 300\n"
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(stdout.String(), want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(stdout.String(), want) {
		t.Fatalf("stdout %q, want %q; log:\n%s", stdout.String(), want, stderr.String())
	}
	if !strings.Contains(stderr.String(), "probe sip-tcp: unknown -> up") {
		t.Errorf("the SIP target was not probed up with OPTIONS; log:\n%s", stderr.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("syncMain did not return within 5 s of its context's end")
	}
	goleak.VerifyNone(t, leaks)
}
