package probe

import (
	"fmt"
	"strings"
)

// ForService returns the method that probes the SRV service label (e.g. "_sip._tcp") with kind, or with
// the service's natural kind when kind is empty. The transport comes from the label, as clients choose it:
// RFC 3263 §4.1 makes _sips._tcp and _sip._tls TLS, XEP-0368 makes the _xmpps- forms direct TLS.
//
// The natural kind is SIP OPTIONS for _sip and _sips, the stream-header exchange for the XMPP services, a
// TCP connect for any other TCP service and no check for any other service, where a connect would prove
// nothing. It is an error to ask for a kind that cannot speak the label's transport (XMPP or a TCP connect
// over UDP, anything over SCTP), so that a server is never judged by a probe of the wrong protocol.
func ForService(label string, kind Kind) (Method, error) {
	name, proto := splitLabel(label)
	if kind == "" {
		kind = naturalKind(name, proto)
	}
	secure := strings.HasPrefix(name, "_sips") || strings.HasPrefix(name, "_xmpps") || proto == "_tls"
	var m Method
	switch kind {
	case KindNone:
		return Method{Kind: kind}, nil
	case KindTCP:
		m = Method{Kind: kind, Transport: TCP}
	case KindTLS:
		m = Method{Kind: kind, Transport: TLS}
	case KindSIP, KindXMPPClient, KindXMPPServer:
		switch {
		case proto == "_udp":
			m = Method{Kind: kind, Transport: UDP}
		case secure:
			m = Method{Kind: kind, Transport: TLS}
		case proto == "_tcp":
			m = Method{Kind: kind, Transport: TCP}
		default:
			m = Method{Kind: kind, Transport: TCP} // refused below: not a transport of ours
		}
	default:
		return Method{}, fmt.Errorf("unknown kind %q, want one of none, tcp, tls, sip, xmpp-client, xmpp-server", kind)
	}
	switch {
	case proto == "_udp" && kind != KindSIP:
		return Method{}, fmt.Errorf("%s is a UDP service; only sip or none can probe it", strings.TrimSuffix(label, "."))
	case proto != "_udp" && proto != "_tcp" && proto != "_tls":
		return Method{}, fmt.Errorf("no %s probe runs over %s; use probe %s none to keep only the CNAME and address checks", kind, strings.TrimPrefix(proto, "_"), strings.TrimSuffix(label, "."))
	}
	if _, err := New(m, Options{}); err != nil {
		return Method{}, err
	}
	return m, nil
}

func naturalKind(name, proto string) Kind {
	switch name {
	case "_sip", "_sips":
		return KindSIP
	case "_xmpp-client", "_xmpps-client":
		return KindXMPPClient
	case "_xmpp-server", "_xmpps-server":
		return KindXMPPServer
	}
	if proto == "_tcp" {
		return KindTCP
	}
	return KindNone
}

// splitLabel splits "_sip._tcp." into "_sip" and "_tcp", ignoring case.
func splitLabel(label string) (name, proto string) {
	label = strings.ToLower(strings.TrimSuffix(label, "."))
	name, proto, _ = strings.Cut(label, ".")
	return name, proto
}
