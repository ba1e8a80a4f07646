package srvhealth

import (
	"encoding/base64"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/caddy"

	"github.com/srvhealth/srvhealth/fleet"
)

func TestSetupFleet(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte(base64.StdEncoding.EncodeToString(make([]byte, 10))), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not base64!"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		input   string
		wantErr string
		check   func(*fleet.Config) bool
	}{
		{input: "srvhealth example.com", check: func(f *fleet.Config) bool { return f == nil }},
		{input: "srvhealth example.com {\n fleet 127.0.0.1:7946\n}", check: func(f *fleet.Config) bool {
			return f.Bind == netip.MustParseAddrPort("127.0.0.1:7946") && len(f.Peers) == 0 && f.Probers == 2 && f.Key == nil
		}},
		{input: "srvhealth example.com {\n fleet [::1]:7946 [::1]:7947 coredns-gossip.kube-system.svc.cluster.local\n fleet_probers 3\n}", check: func(f *fleet.Config) bool {
			return f.Bind.Addr().IsLoopback() && len(f.Peers) == 2 && f.Peers[1] == "coredns-gossip.kube-system.svc.cluster.local" && f.Probers == 3
		}},
		{input: "srvhealth example.com {\n fleet_key " + key + "\n fleet 0.0.0.0:7946 peers.example.com:7946\n}", check: func(f *fleet.Config) bool {
			return len(f.Key) == 32 && f.Bind.Port() == 7946
		}},
		{input: "srvhealth example.com {\n fleet 0.0.0.0:7946\n}", wantErr: "fleet: 0.0.0.0:7946 is not a loopback address; fleet_key is required"},
		{input: "srvhealth example.com {\n fleet 10.0.0.1:7946 10.0.0.2:7946\n}", wantErr: "fleet_key is required"},
		{input: "srvhealth example.com {\n fleet\n}", wantErr: "fleet: want ADDR:PORT"},
		{input: "srvhealth example.com {\n fleet 7946\n}", wantErr: "is not ADDR:PORT"},
		{input: "srvhealth example.com {\n fleet localhost:7946\n}", wantErr: "is not ADDR:PORT"},
		{input: "srvhealth example.com {\n fleet 127.0.0.1:0\n}", wantErr: "is not ADDR:PORT"},
		{input: "srvhealth example.com {\n fleet 127.0.0.1:7946 a:99999\n}", wantErr: "has no valid port"},
		{input: "srvhealth example.com {\n fleet 127.0.0.1:7946 bad..name\n}", wantErr: "is not HOST:PORT or a DNS name"},
		{input: "srvhealth example.com {\n fleet 127.0.0.1:7946\n fleet 127.0.0.1:7947\n}", wantErr: "fleet: property given twice"},
		{input: "srvhealth example.com {\n fleet_key " + key + "\n}", wantErr: "no fleet line says where to gossip"},
		{input: "srvhealth example.com {\n fleet_probers 2\n}", wantErr: "no fleet line says where to gossip"},
		{input: "srvhealth example.com {\n fleet 127.0.0.1:7946\n fleet_probers 0\n}", wantErr: "fleet_probers: \"0\" is not a positive integer"},
		{input: "srvhealth example.com {\n fleet 127.0.0.1:7946\n fleet_key " + short + "\n}", wantErr: "key of 10 octets"},
		{input: "srvhealth example.com {\n fleet 127.0.0.1:7946\n fleet_key " + garbage + "\n}", wantErr: "does not hold a base64 key"},
		{input: "srvhealth example.com {\n fleet 127.0.0.1:7946\n fleet_key " + filepath.Join(dir, "none") + "\n}", wantErr: "fleet_key: open"},
		{input: "srvhealth example.com {\n fleet 127.0.0.1:7946\n fleet_key\n}", wantErr: "fleet_key: want a key FILE"},
	}
	for _, tc := range tests {
		cfg, err := parse(caddy.NewTestController("dns", tc.input))
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%q: unexpected error %v", tc.input, err)
			} else if !tc.check(cfg.Fleet) {
				t.Errorf("%q: parsed to %+v", tc.input, cfg.Fleet)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: error %v, want it to contain %q", tc.input, err, tc.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%q: error %q does not name the Corefile line", tc.input, err)
		}
	}
}
