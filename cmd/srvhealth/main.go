// Command srvhealth checks SIP and XMPP SRV records the way an operator does by hand with dig, nc and
// openssl, in one command, at a terminal or in CI:
//
//	srvhealth check example.com                 ask every authoritative server, lint, probe every target
//	srvhealth check --zone db.example.com       lint a zone file before it is deployed, offline
//	srvhealth status --server 127.0.0.1:53 _sip._udp.example.com   a running server's view of the targets
//	srvhealth sync --zone db.example.com --update ns1:53 --tsig sync.key   keep a zone CoreDNS does not serve healthy
//
// It shares its rules (package lint) and its probes (package probe) with the srvhealth CoreDNS plugin,
// and is not part of the CoreDNS build. The exit status follows the monitoring-plugin convention: 0 all
// good, 1 warnings, 2 errors or an unreachable service, 3 the check could not run.
package main

import (
	"fmt"
	"io"
	"os"
)

// The exit statuses of the monitoring-plugin convention (Nagios, Icinga, sipsak -N, check_xmppng).
const (
	exitOK       = 0
	exitWarning  = 1
	exitCritical = 2
	exitUnknown  = 3
)

// command is a subcommand: srvhealth NAME ARGS...
type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

var commands = []command{
	{"check", "lint and probe a domain's SIP and XMPP SRV records, or lint a zone file", runCheck},
	{"status", "show what a running CoreDNS with srvhealth thinks of its targets (CH TXT status)", runStatus},
	{"sync", "keep the SRV records of a zone CoreDNS does not serve healthy (RFC 2136, Route 53, Cloudflare)", runSync},
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is the whole command, callable from tests: it parses args, writes to stdout and stderr and returns
// the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUnknown
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "srvhealth: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUnknown
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: srvhealth COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nsrvhealth COMMAND -h describes a command's flags.")
	fmt.Fprintln(w, "exit status: 0 ok, 1 warnings, 2 errors or an unreachable service, 3 the check could not run")
}
