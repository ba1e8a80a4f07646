package probe

import (
	"strings"
	"testing"
)

func TestForService(t *testing.T) {
	tests := []struct {
		label   string
		kind    Kind
		want    string // Method.String(); empty when an error containing wantErr is expected
		wantErr string
	}{
		{label: "_sip._udp.", want: "sip-udp"},
		{label: "_sip._tcp", want: "sip-tcp"},
		{label: "_sip._tls.", want: "sip-tls"},
		{label: "_sips._tcp.", want: "sip-tls"},
		{label: "_SIP._TCP.", want: "sip-tcp"},
		{label: "_xmpp-client._tcp.", want: "xmpp-client"},
		{label: "_xmpps-client._tcp.", want: "xmpp-client-tls"},
		{label: "_xmpp-server._tcp.", want: "xmpp-server"},
		{label: "_xmpps-server._tcp.", want: "xmpp-server-tls"},
		{label: "_ldap._tcp.", want: "tcp"},
		{label: "_stun._udp.", want: "none"},
		{label: "_foo._sctp.", want: "none"},
		{label: "_sips._tcp.", kind: KindTCP, want: "tcp"},
		{label: "_sip._tcp.", kind: KindTLS, want: "tls"},
		{label: "_sip._udp.", kind: KindNone, want: "none"},
		{label: "_sip._sctp.", kind: KindNone, want: "none"},
		{label: "_sip._sctp.", wantErr: "no sip probe runs over sctp"},
		{label: "_sip._sctp.", kind: KindTCP, wantErr: "no tcp probe runs over sctp"},
		{label: "_xmpp-client._udp.", wantErr: "is a UDP service"},
		{label: "_stun._udp.", kind: KindTCP, wantErr: "is a UDP service"},
		{label: "_sip._udp.", kind: KindTLS, wantErr: "is a UDP service"},
		{label: "_sip._tcp.", kind: "icmp", wantErr: `unknown kind "icmp"`},
	}
	for _, tc := range tests {
		m, err := ForService(tc.label, tc.kind)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ForService(%q, %q) = %v, %v; want error containing %q", tc.label, tc.kind, m, err, tc.wantErr)
			}
		case err != nil || m.String() != tc.want:
			t.Errorf("ForService(%q, %q) = %v, %v; want %s", tc.label, tc.kind, m, err, tc.want)
		}
	}
}
