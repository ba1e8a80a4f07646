package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/srvhealth/srvhealth/lint"
)

// The report is what --json prints; schema.json describes it and README.md documents it. Fields are
// added, never renamed or removed, without a new Version.

// reportVersion is the version of the JSON schema.
const reportVersion = 1

// Report is the outcome of one run of srvhealth check.
type Report struct {
	Version int `json:"version"`
	// Status is "ok", "warning", "critical" or "unknown", as the exit code says.
	Status   string  `json:"status"`
	ExitCode int     `json:"exit_code"`
	Counts   Counts  `json:"counts"`
	Checks   []Check `json:"checks"`
}

// Counts are the findings of every check by severity.
type Counts struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Info     int `json:"info"`
}

// Check is the check of one domain, or of one zone file.
type Check struct {
	Domain string `json:"domain,omitempty"` // a live check: the domain asked for
	File   string `json:"file,omitempty"`   // a zone file check: the file
	Zone   string `json:"zone,omitempty"`   // the zone holding the records
	// Resolver is the resolver that found the zone and its servers.
	Resolver string `json:"resolver,omitempty"`
	// Error says why the check could not run; the exit code is then 3.
	Error      string          `json:"error,omitempty"`
	DurationMS float64         `json:"duration_ms"`
	Servers    []ServerReport  `json:"servers"`
	Records    []RecordReport  `json:"records"`
	Targets    []TargetReport  `json:"targets"`
	Probes     []ProbeReport   `json:"probes"`
	Findings   []lint.Finding  `json:"findings"`
	Skipped    []string        `json:"skipped"`
	served     map[string]bool // --server addresses, for the table's columns
}

// ServerReport is a DNS server the check asked.
type ServerReport struct {
	Name    string `json:"name"`    // "ns1.example.com.", or the address for --server
	Address string `json:"address"` // "192.0.2.53:53"
	// Role is "authoritative" (from the zone's NS records) or "given" (--server).
	Role   string  `json:"role"`
	Serial uint32  `json:"serial,omitempty"` // of its copy of the zone
	RTTMS  float64 `json:"rtt_ms"`
	Error  string  `json:"error,omitempty"`
}

// RecordReport is one SRV or NAPTR record.
type RecordReport struct {
	Name string    `json:"name"`
	Type string    `json:"type"` // "SRV" or "NAPTR"
	TTL  uint32    `json:"ttl"`
	Data string    `json:"data"` // the record data as in a zone file
	SRV  *SRVField `json:"srv,omitempty"`
	Line int       `json:"line,omitempty"` // in the zone file
	// On and MissingOn list the authoritative servers that have the record and those that do not; a
	// record only a --server served has neither.
	On        []string `json:"on,omitempty"`
	MissingOn []string `json:"missing_on,omitempty"`
	// Served says, per --server address, whether that server served the record.
	Served map[string]bool `json:"served,omitempty"`
	// Srvhealth says what the srvhealth plugin with its defaults would do with an SRV record given what
	// the check found: "serve", "drop (down)", "drop (cname)", "drop (no_address)", or "serve (all down:
	// serve_all)". Live checks only.
	Srvhealth string `json:"srvhealth,omitempty"`
}

// SRVField is the data of an SRV record, for scripts.
type SRVField struct {
	Priority uint16 `json:"priority"`
	Weight   uint16 `json:"weight"`
	Port     uint16 `json:"port"`
	Target   string `json:"target"`
}

// TargetReport is what resolving an SRV target gave.
type TargetReport struct {
	Name      string   `json:"name"`
	Exists    bool     `json:"exists"`
	CNAME     string   `json:"cname,omitempty"`
	Addresses []string `json:"addresses"`
	Error     string   `json:"error,omitempty"`
}

// ProbeReport is the probe of one address of one target for one service.
type ProbeReport struct {
	Service string  `json:"service"` // the SRV owner, "_sip._udp.example.com."
	Target  string  `json:"target"`
	Port    uint16  `json:"port"`
	Address string  `json:"address"` // "192.0.2.1:5060"
	Method  string  `json:"method"`  // "sip-udp", "xmpp-client", "xmpp-client-tls"...
	Up      bool    `json:"up"`
	Reason  string  `json:"reason,omitempty"`
	RTTMS   float64 `json:"rtt_ms"`
	// SIPServer is the Server (or User-Agent) header of the SIP response.
	SIPServer string `json:"sip_server,omitempty"`
	// StartTLS is what an XMPP server on a STARTTLS port says: "none", "offered" or "required".
	StartTLS string `json:"starttls,omitempty"`
	// StartTLSError says why STARTTLS, offered, could not be negotiated.
	StartTLSError string     `json:"starttls_error,omitempty"`
	TLS           *TLSReport `json:"tls,omitempty"`

	chain []*x509.Certificate // for the certificate rules
}

// TLSReport is the certificate a TLS handshake (direct, or after STARTTLS) showed.
type TLSReport struct {
	Version  string    `json:"version,omitempty"` // "TLS 1.3"; empty when the handshake failed after the certificate
	ALPN     string    `json:"alpn,omitempty"`
	Subject  string    `json:"subject"`
	Names    []string  `json:"names"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
	DaysLeft int       `json:"days_left"`
}

func tlsVersion(v uint16) string {
	if v == 0 {
		return ""
	}
	return tls.VersionName(v)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// writeJSON prints the report, indented.
func writeJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeTable prints the report for people: per check the servers, the records, the probes and the
// findings, each a table, then one summary line in the monitoring-plugin form.
func writeTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for i, c := range r.Checks {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		writeCheck(tw, &c)
	}
	fmt.Fprintf(tw, "\n%s: %s\n", strings.ToUpper(r.Status), countLine(r.Counts))
	return tw.Flush()
}

func countLine(c Counts) string {
	plural := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + many
	}
	return plural(c.Errors, "error", "errors") + ", " + plural(c.Warnings, "warning", "warnings") + ", " + strconv.Itoa(c.Info) + " info"
}

// row writes one line of a table: its cells separated by tabs, the last one not padded.
func row(w io.Writer, cells ...string) { fmt.Fprintln(w, strings.Join(cells, "\t")) }

func writeCheck(w io.Writer, c *Check) {
	switch {
	case c.File != "" && c.Zone == "" && c.Error == "" && len(c.Records) == 0:
		fmt.Fprintf(w, ";; Corefile %s: drains\n", c.File)
		writeFindings(w, c.Findings)
		return
	case c.File != "":
		fmt.Fprintf(w, ";; zone file %s, zone %s\n", c.File, c.Zone)
	default:
		fmt.Fprintf(w, ";; %s", c.Domain)
		if c.Zone != "" {
			fmt.Fprintf(w, " in zone %s", c.Zone)
		}
		if c.Resolver != "" {
			fmt.Fprintf(w, ", resolver %s", c.Resolver)
		}
		fmt.Fprintf(w, ", %.0f ms\n", c.DurationMS)
	}
	if c.Error != "" && len(c.Servers) == 0 {
		fmt.Fprintf(w, ";; check could not run: %s\n", c.Error)
		return
	}
	var givens []string
	authCount := 0
	if len(c.Servers) > 0 {
		fmt.Fprintln(w)
		row(w, "SERVER", "ADDRESS", "ROLE", "SERIAL", "RTT")
		for _, s := range c.Servers {
			serial := ""
			if s.Serial != 0 {
				serial = strconv.FormatUint(uint64(s.Serial), 10)
			}
			rtt := fmt.Sprintf("%.1f ms", s.RTTMS)
			if s.Error != "" {
				rtt = s.Error
			}
			row(w, s.Name, s.Address, s.Role, serial, rtt)
			switch {
			case s.Role == "given":
				givens = append(givens, s.Address)
			case s.Error == "":
				authCount++
			}
		}
	}

	if c.Error != "" && len(c.Records) == 0 {
		fmt.Fprintf(w, "\n;; check could not run: %s\n", c.Error)
		return
	}
	fmt.Fprintln(w)
	head := []string{"RECORD"}
	if c.File != "" {
		head = []string{"LINE", "RECORD"}
	} else if authCount > 0 {
		head = append(head, "ON")
	}
	for _, g := range givens {
		head = append(head, "SERVED BY "+g)
	}
	judged := slices.ContainsFunc(c.Records, func(r RecordReport) bool { return r.Srvhealth != "" })
	if judged {
		head = append(head, "SRVHEALTH")
	}
	row(w, head...)
	authoritative := slices.ContainsFunc(c.Servers, func(s ServerReport) bool { return s.Role == "authoritative" })
	switch {
	case len(c.Records) == 0 && c.File == "" && authoritative && authCount == 0:
		row(w, "(none: no authoritative server gave an authoritative answer)")
	case len(c.Records) == 0:
		row(w, "(no SIP or XMPP SRV records)")
	}
	for _, rec := range c.Records {
		cells := []string{fmt.Sprintf("%s %d IN %s %s", rec.Name, rec.TTL, rec.Type, rec.Data)}
		if c.File != "" {
			cells = append([]string{strconv.Itoa(rec.Line)}, cells...)
		} else if authCount > 0 {
			on := fmt.Sprintf("%d/%d", len(rec.On), authCount)
			if len(rec.MissingOn) > 0 {
				on += " (not on " + strings.Join(rec.MissingOn, ", ") + ")"
			}
			cells = append(cells, on)
		}
		for _, g := range givens {
			switch served, ok := rec.Served[g]; {
			case !ok:
				cells = append(cells, "-")
			case served:
				cells = append(cells, "yes")
			default:
				cells = append(cells, "no")
			}
		}
		if judged {
			cells = append(cells, rec.Srvhealth)
		}
		row(w, cells...)
	}

	if len(c.Probes) > 0 {
		fmt.Fprintln(w)
		row(w, "SERVICE", "TARGET", "ADDRESS", "PROBE", "RESULT", "RTT", "DETAIL")
		for _, p := range c.Probes {
			res := "up"
			if !p.Up {
				res = "DOWN"
			}
			row(w, p.Service, p.Target, p.Address, p.Method, res, fmt.Sprintf("%.1f ms", p.RTTMS), probeDetail(p))
		}
	}
	for _, s := range c.Skipped {
		fmt.Fprintf(w, ";; not probed: %s\n", s)
	}
	if c.Error != "" {
		fmt.Fprintf(w, ";; check incomplete: %s\n", c.Error)
	}

	writeFindings(w, c.Findings)
}

// writeFindings is the findings table of a check.
func writeFindings(w io.Writer, fs []lint.Finding) {
	fmt.Fprintln(w)
	if len(fs) == 0 {
		fmt.Fprintln(w, "no findings")
		return
	}
	row(w, "SEVERITY", "CODE", "NAME", "WHERE", "MESSAGE")
	for _, f := range fs {
		var where []string
		if f.Line != 0 {
			where = append(where, "line "+strconv.Itoa(f.Line))
		}
		for _, s := range []string{f.Target, f.Address} {
			if s != "" {
				where = append(where, s)
			}
		}
		row(w, f.Severity.String(), f.Code, f.Name, strings.Join(where, " "), f.Message)
	}
}

// probeDetail is the DETAIL column: the reason, the software, STARTTLS and the certificate.
func probeDetail(p ProbeReport) string {
	var parts []string
	if p.Reason != "" {
		parts = append(parts, p.Reason)
	}
	if p.SIPServer != "" {
		parts = append(parts, p.SIPServer)
	}
	if p.StartTLS != "" {
		parts = append(parts, "starttls "+p.StartTLS)
	}
	if p.StartTLSError != "" {
		parts = append(parts, "starttls failed: "+p.StartTLSError)
	}
	if t := p.TLS; t != nil {
		s := "cert " + strings.Join(t.Names, ",")
		if len(t.Names) == 0 {
			s = "cert " + t.Subject
		}
		s += fmt.Sprintf(" %dd", t.DaysLeft)
		if t.Version != "" {
			s = t.Version + " " + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
