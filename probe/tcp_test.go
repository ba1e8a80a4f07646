package probe

import (
	"context"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/internal/fakepeer"
)

var tcpMethod = Method{Kind: KindTCP, Transport: TCP}

func TestTCP(t *testing.T) {
	r := mustNew(t, tcpMethod, Options{}).Probe(probeCtx(t, time.Second), Target{Addr: fakepeer.TCP(t, fakepeer.Silent)})
	if !r.Up || r.Duration <= 0 {
		t.Errorf("listening port: got %+v, want up with a duration", r)
	}
	r = mustNew(t, tcpMethod, Options{}).Probe(probeCtx(t, time.Second), Target{Addr: fakepeer.ClosedPort(t)})
	if r.Up || r.Reason != "connection refused" {
		t.Errorf("closed port: got up=%v reason %q, want connection refused", r.Up, r.Reason)
	}
}

func TestCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, m := range []Method{tcpMethod, tlsMethod, sipUDP, sipTCP, {KindXMPPClient, TCP}} {
		r := mustNew(t, m, Options{}).Probe(ctx, Target{Addr: fakepeer.TCP(t, fakepeer.Silent), Domain: "voip.test"})
		if r.Up || r.Reason != "canceled" {
			t.Errorf("%v: got up=%v reason %q, want canceled", m, r.Up, r.Reason)
		}
	}
}

// Cancelling the context ends a probe that has no deadline: the connection's deadline follows ctx.
func TestCancelWithoutDeadline(t *testing.T) {
	t.Parallel()
	for _, m := range []Method{sipUDP, sipTCP, {KindXMPPClient, TCP}} {
		ctx, cancel := context.WithCancel(t.Context())
		addr := fakepeer.TCP(t, fakepeer.Silent)
		if m.Transport == UDP {
			addr = fakepeer.UDP(t, nil)
		}
		time.AfterFunc(200*time.Millisecond, cancel)
		r := mustNew(t, m, Options{}).Probe(ctx, Target{Addr: addr, Domain: "voip.test"})
		if r.Up || r.Duration > 2*time.Second {
			t.Errorf("%v: got %+v, want down soon after cancel", m, r)
		}
		cancel()
	}
}

func TestNew(t *testing.T) {
	valid := map[Method]string{
		{KindNone, ""}: "none", {KindNone, UDP}: "none",
		{KindTCP, TCP}: "tcp", {KindTCP, ""}: "tcp",
		{KindTLS, TLS}: "tls", {KindTLS, ""}: "tls",
		{KindSIP, UDP}: "sip-udp", {KindSIP, TCP}: "sip-tcp", {KindSIP, TLS}: "sip-tls",
		{KindXMPPClient, TCP}: "xmpp-client", {KindXMPPClient, TLS}: "xmpp-client-tls",
		{KindXMPPServer, TCP}: "xmpp-server", {KindXMPPServer, TLS}: "xmpp-server-tls",
	}
	for m, name := range valid {
		if _, err := New(m, Options{}); err != nil {
			t.Errorf("New(%v): %v", m, err)
		}
		if m.String() != name {
			t.Errorf("%#v.String() = %q, want %q", m, m.String(), name)
		}
	}
	for _, m := range []Method{
		{KindTCP, UDP}, {KindTLS, UDP}, {KindSIP, ""}, {KindXMPPClient, UDP}, {KindXMPPServer, UDP},
		{"http", TCP}, {"", ""},
	} {
		if p, err := New(m, Options{}); err == nil {
			t.Errorf("New(%#v) = %v, want an error", m, p)
		}
	}
}

func TestNone(t *testing.T) {
	// Nothing listens there: "none" must not even try.
	r := mustNew(t, Method{Kind: KindNone}, Options{}).Probe(t.Context(), Target{Addr: fakepeer.ClosedPort(t)})
	if !r.Up {
		t.Errorf("got %+v, want up", r)
	}
}
