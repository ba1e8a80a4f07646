package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/miekg/dns"
)

// srvhealth status: what a running CoreDNS with srvhealth thinks of its targets right now, read from the
// CHAOS-class TXT answers its status property turns on (one TXT record per target, one "key=value" string
// per field; see the plugin's README, section Status).

// TargetStatus is one target as a server's status reports it; the --json output is a list of these.
type TargetStatus struct {
	Target  string       `json:"target"`
	Port    int          `json:"port"`
	Probe   string       `json:"probe"`
	Domain  string       `json:"domain,omitempty"`
	State   string       `json:"state"`            // up, down, unknown, drained, out of scope, not resolved, cname, no address
	Probed  string       `json:"probed,omitempty"` // for a drained target: the state its probes found
	Since   string       `json:"since,omitempty"`  // RFC 3339, when it entered its state
	Checked string       `json:"checked,omitempty"`
	Prober  string       `json:"prober,omitempty"` // with fleet: the member whose round the state comes from
	Addrs   []AddrStatus `json:"addrs,omitempty"`
}

// AddrStatus is one probed address of a target.
type AddrStatus struct {
	Addr   string `json:"addr"`
	State  string `json:"state"`
	RTT    string `json:"rtt"`
	Result string `json:"result"` // the last probe's result: "ok", or why it failed
}

func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "127.0.0.1:53", "the CoreDNS to ask, HOST:PORT")
	asJSON := fs.Bool("json", false, "print the targets as JSON")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: srvhealth status [--server HOST:PORT] [--json] [NAME]")
		fmt.Fprintln(stderr, "\nNAME is an SRV name (_sip._udp.example.com): its targets as the server's zone lists them; or a")
		fmt.Fprintln(stderr, "zone of the server block (example.com): every target the block monitors. Without NAME: the")
		fmt.Fprintln(stderr, "root zone's block. The block needs the status property, allowing this client's address.")
		fmt.Fprintln(stderr, "exit status: 0 no target down, 1 some down, 2 every target down, 3 no status: no answer, refused,")
		fmt.Fprintln(stderr, "an error (the server's own, or any rcode but NOERROR), or no target in the answer")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUnknown
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return exitUnknown
	}
	name := statusName(fs.Arg(0))
	targets, err := askStatus(*server, name, *timeout)
	if err != nil {
		fmt.Fprintf(stderr, "srvhealth status: %s CH TXT %s: %v\n", *server, name, err)
		return exitUnknown
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(targets)
	} else {
		printStatus(stdout, targets)
	}
	return statusExit(targets)
}

// statusName is the CH TXT name for NAME: an SRV name as it is, srvhealth.ZONE for a zone.
func statusName(arg string) string {
	arg = dns.Fqdn(strings.ToLower(arg))
	if strings.HasPrefix(arg, "_") {
		return arg
	}
	if arg == "." {
		return "srvhealth."
	}
	return "srvhealth." + arg
}

// askStatus asks server for the status under name, over UDP and again over TCP when the answer did not
// fit.
func askStatus(server, name string, timeout time.Duration) ([]TargetStatus, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeTXT)
	q.Question[0].Qclass = dns.ClassCHAOS
	q.SetEdns0(4096, false)
	c := &dns.Client{Timeout: timeout}
	r, _, err := c.Exchange(q, server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.Exchange(q, server)
	}
	if err != nil {
		return nil, err
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeRefused:
		return nil, refusedWhy(c, server, name)
	default:
		return nil, fmt.Errorf("%s", dns.RcodeToString[r.Rcode])
	}
	return statusTargets(r.Answer)
}

// refusedWhy says why server refused the status under name. CoreDNS refuses a name that no server block
// serves, and srvhealth refuses one its block's status does not allow (or has no status for): the zone's
// SOA, asked in class IN, tells the two apart.
func refusedWhy(c *dns.Client, server, name string) error {
	zone, ok := strings.CutPrefix(name, "srvhealth.")
	if !ok {
		zone = name // an SRV name: the block whose zone holds it
	}
	if zone == "" {
		zone = "."
	}
	what := zone
	if zone == "." {
		what = "the root zone (without NAME, status asks the block of zone .; give an SRV name or a zone)"
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(zone), dns.TypeSOA)
	r, _, err := c.Exchange(q, server)
	switch {
	case err != nil:
		return fmt.Errorf("REFUSED: no server block serves %s, or the block has no status property, or it does not allow this address", what)
	case r.Rcode == dns.RcodeRefused:
		return fmt.Errorf("REFUSED: no server block serves %s (CoreDNS refuses names outside its blocks' zones)", what)
	}
	return fmt.Errorf("REFUSED: the block serving %s has no status property, or its status does not allow this address", what)
}

// statusTargets reads the targets of a NOERROR status answer. An answer that is not a status is an
// error, so that a monitoring check says UNKNOWN rather than OK about it: the server's own error (a block
// whose backend failed answers with one "error=..." string), a TXT record without a target (another
// plugin's CH TXT), or no record at all (nothing to judge: no target, or not a name the block reports).
func statusTargets(answer []dns.RR) ([]TargetStatus, error) {
	var out []TargetStatus
	for _, rr := range answer {
		txt, ok := rr.(*dns.TXT)
		if !ok {
			continue
		}
		for _, s := range txt.Txt {
			if msg, ok := strings.CutPrefix(s, "error="); ok {
				return nil, fmt.Errorf("server error: %s", msg)
			}
		}
		t := parseStatus(txt.Txt)
		if t.Target == "" {
			return nil, fmt.Errorf("not a status record: %q", strings.Join(txt.Txt, " "))
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, errors.New("no targets in the answer")
	}
	return out, nil
}

// parseStatus reads one target's strings ("key=value"); unknown keys are ignored, so a newer server can add
// fields.
func parseStatus(strs []string) TargetStatus {
	var t TargetStatus
	for _, s := range strs {
		k, v, _ := strings.Cut(s, "=")
		switch k {
		case "target":
			t.Target = v
		case "port":
			fmt.Sscan(v, &t.Port)
		case "probe":
			t.Probe = v
		case "domain":
			t.Domain = v
		case "state":
			t.State = v
		case "probed":
			t.Probed = v
		case "since":
			t.Since = v
		case "checked":
			t.Checked = v
		case "prober":
			t.Prober = v
		case "addr":
			// "ADDR STATE RTT RESULT...": the result is the rest, spaces and all.
			f := strings.SplitN(v, " ", 4)
			for len(f) < 4 {
				f = append(f, "")
			}
			t.Addrs = append(t.Addrs, AddrStatus{Addr: f[0], State: f[1], RTT: f[2], Result: f[3]})
		}
	}
	return t
}

func printStatus(w io.Writer, targets []TargetStatus) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	// The PROBER column only for a server in a fleet: the member whose round each state comes from.
	fleet := slices.ContainsFunc(targets, func(t TargetStatus) bool { return t.Prober != "" })
	head := "TARGET\tPORT\tPROBE\tSTATE\tSINCE"
	if fleet {
		head += "\tPROBER"
	}
	fmt.Fprintln(tw, head+"\tADDRESS\tADDR STATE\tRTT\tLAST PROBE")
	for _, t := range targets {
		state := t.State
		if t.Probed != "" {
			state += " (" + t.Probed + ")"
		}
		row := fmt.Sprintf("%s\t%d\t%s\t%s\t%s", t.Target, t.Port, t.Probe, state, orDash(t.Since))
		blank := "\t\t\t\t"
		if fleet {
			row += "\t" + orDash(t.Prober)
			blank += "\t"
		}
		if len(t.Addrs) == 0 {
			fmt.Fprintf(tw, "%s\t-\t\t\t\n", row)
		}
		for i, a := range t.Addrs {
			if i > 0 {
				row = blank
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row, a.Addr, a.State, a.RTT, a.Result)
		}
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// statusExit is the monitoring exit status of a status answer: critical when every target is down,
// warning when some are.
func statusExit(targets []TargetStatus) int {
	down := 0
	for _, t := range targets {
		if t.State == "down" || t.State == "drained" && t.Probed == "down" {
			down++
		}
	}
	switch {
	case down == 0:
		return exitOK
	case down == len(targets):
		return exitCritical
	}
	return exitWarning
}
