package lint

import (
	"slices"
	"strings"
)

// Service is a SIP or XMPP service label that clients look up.
type Service struct {
	Label    string // "_sip._udp.", lower case, with the trailing dot
	Protocol string // "sip" or "xmpp"
	// Transport is what a client speaks to the target: "udp", "tcp", or "tls" for TLS from the first
	// byte (RFC 3263 for _sips._tcp and _sip._tls, XEP-0368 for _xmpps-).
	Transport string
	Role      string // for XMPP: "client" or "server"
	Port      uint16 // the usual port
	// Legacy marks _jabber._tcp, which predates RFC 6120 and which no current software needs.
	Legacy bool
}

// services are the labels srvhealth check asks for, in the order it lists them.
var services = []Service{
	{Label: "_sip._udp.", Protocol: "sip", Transport: "udp", Port: 5060},
	{Label: "_sip._tcp.", Protocol: "sip", Transport: "tcp", Port: 5060},
	{Label: "_sip._tls.", Protocol: "sip", Transport: "tls", Port: 5061},
	{Label: "_sips._tcp.", Protocol: "sip", Transport: "tls", Port: 5061},
	{Label: "_xmpp-client._tcp.", Protocol: "xmpp", Transport: "tcp", Role: "client", Port: 5222},
	{Label: "_xmpp-server._tcp.", Protocol: "xmpp", Transport: "tcp", Role: "server", Port: 5269},
	{Label: "_xmpps-client._tcp.", Protocol: "xmpp", Transport: "tls", Role: "client", Port: 5223},
	{Label: "_xmpps-server._tcp.", Protocol: "xmpp", Transport: "tls", Role: "server", Port: 5270},
	{Label: "_jabber._tcp.", Protocol: "xmpp", Transport: "tcp", Role: "server", Port: 5269, Legacy: true},
}

// Services returns the SIP and XMPP service labels clients look up, the legacy _jabber._tcp last.
func Services() []Service { return slices.Clone(services) }

// ServiceOf returns the service whose label starts name ("_sip._udp.example.com." is _sip._udp), in
// any case, as DNS matches names.
func ServiceOf(name string) (Service, bool) {
	label, _ := splitLabel(name)
	label = strings.ToLower(label)
	for _, s := range services {
		if s.Label == label {
			return s, true
		}
	}
	return Service{}, false
}

// splitLabel splits an SRV owner into its first two labels ("_sip._udp.") and the rest, the service
// domain ("example.com."). A name of fewer than three labels has no service domain.
func splitLabel(name string) (label, domain string) {
	i := strings.IndexByte(name, '.')
	if i < 0 {
		return "", name
	}
	j := strings.IndexByte(name[i+1:], '.')
	if j < 0 {
		return "", name
	}
	k := i + 1 + j + 1
	domain = name[k:]
	if domain == "" {
		domain = "."
	}
	return name[:k], domain
}

// wellKnownPorts are the usual ports of the SIP and XMPP services: a record of one service on the port of
// another is almost always a copy-and-paste mistake.
var wellKnownPorts = map[uint16]string{
	5060: "SIP over UDP and TCP",
	5061: "SIP over TLS",
	5222: "XMPP client-to-server with STARTTLS",
	5223: "XMPP client-to-server over direct TLS",
	5269: "XMPP server-to-server with STARTTLS",
	5270: "XMPP server-to-server over direct TLS",
}

// portMismatch says which service port the record's port belongs to, when it is the usual port of a
// service that is not this one.
func portMismatch(s Service, port uint16) (other string, bad bool) {
	if s.Legacy {
		return "", false // _jabber._tcp was used for both c2s and s2s
	}
	other, known := wellKnownPorts[port]
	if !known || port == s.Port {
		return "", false
	}
	return other, true
}
