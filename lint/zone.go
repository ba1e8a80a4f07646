package lint

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Record is a resource record of a zone file and where it stands there.
type Record struct {
	dns.RR
	Line int
	// Written is, for SRV and NAPTR records, the target or replacement as the file writes it.
	Written string
}

// Zone is a BIND-style zone file, read for linting: every record with its line, and what could not be
// read.
type Zone struct {
	Origin  string // fully qualified, lower case
	File    string
	Records []Record
	// Problems are the zone-syntax findings of reading the file.
	Problems []Finding
}

// ParseZone reads a zone file. origin is the zone's name when the file has no $ORIGIN before its first
// record; file names the file in findings. A line that does not parse becomes a zone-syntax finding
// and reading goes on with the next, so that one typo does not hide the rest. $INCLUDE is not followed
// (a finding says so); $GENERATE is expanded.
func ParseZone(r io.Reader, origin, file string) (*Zone, error) {
	entries, err := scanEntries(r)
	if err != nil {
		return nil, err
	}
	z := &Zone{Origin: strings.ToLower(dns.Fqdn(origin)), File: file}
	if origin == "" {
		z.Origin = ""
	}
	cur := z.Origin // the current $ORIGIN
	var ttl string  // the current $TTL, or the last TTL seen (RFC 1035 section 5.1)
	dollarTTL := false
	owner := "" // the last owner, for records that leave it blank
	for _, e := range entries {
		toks := fields(e.text)
		if len(toks) == 0 {
			continue
		}
		switch strings.ToUpper(toks[0]) {
		case "$ORIGIN":
			if len(toks) < 2 {
				z.problem(e.line, "$ORIGIN without a name")
				continue
			}
			cur = absolute(toks[1], cur)
			if z.Origin == "" {
				z.Origin = cur
			}
			continue
		case "$TTL":
			if len(toks) < 2 {
				z.problem(e.line, "$TTL without a value")
				continue
			}
			ttl, dollarTTL = toks[1], true
			continue
		case "$INCLUDE":
			z.problem(e.line, "$INCLUDE is not followed: lint the included file on its own")
			continue
		}
		if cur == "" {
			return nil, fmt.Errorf("%s: no $ORIGIN before the first record: give the zone's name", file)
		}
		text := e.text
		if e.blankOwner {
			if owner == "" {
				z.problem(e.line, "a record without an owner name before any record with one")
				continue
			}
			text = owner + " " + text
		}
		var head strings.Builder
		head.WriteString("$ORIGIN " + cur + "\n")
		if ttl != "" {
			head.WriteString("$TTL " + ttl + "\n")
		}
		zp := dns.NewZoneParser(strings.NewReader(head.String()+text+"\n"), cur, file)
		var got []dns.RR
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			got = append(got, rr)
		}
		if err := zp.Err(); err != nil {
			z.problem(e.line, parseMessage(err))
			continue
		}
		for _, rr := range got {
			rec := Record{RR: rr, Line: e.line}
			switch rr.(type) {
			case *dns.SRV, *dns.NAPTR:
				rec.Written = toks[len(toks)-1]
			}
			z.Records = append(z.Records, rec)
			owner = rr.Header().Name
			if !dollarTTL {
				ttl = strconv.FormatUint(uint64(rr.Header().Ttl), 10)
			}
		}
	}
	if z.Origin == "" {
		return nil, fmt.Errorf("%s: no $ORIGIN: give the zone's name", file)
	}
	return z, nil
}

func (z *Zone) problem(line int, msg string) {
	z.Problems = append(z.Problems, newFinding(CodeZoneSyntax, z.Origin, "%s", msg).onLine(line))
}

// parseMessage is a zone parser's error without the file and position, which the finding carries.
func parseMessage(err error) string {
	s := err.Error()
	if i := strings.Index(s, "dns: "); i >= 0 {
		s = s[i+len("dns: "):]
	}
	s, _, _ = strings.Cut(s, " at line: ")
	return s
}

// absolute makes a name from a zone file fully qualified against origin.
func absolute(name, origin string) string {
	switch {
	case name == "@":
		return origin
	case strings.HasSuffix(name, "."):
		return strings.ToLower(name)
	case origin == ".":
		return strings.ToLower(name) + "."
	}
	return strings.ToLower(name) + "." + origin
}

// entry is one logical line of a zone file: a record or a directive, its parentheses joined and its
// comments removed.
type entry struct {
	line       int // where it starts
	text       string
	blankOwner bool // it starts with white space: the owner is the previous record's
}

// scanEntries splits a zone file into entries the way RFC 1035 section 5.1 does: a semicolon starts a
// comment, parentheses continue an entry over several lines, quotes and backslashes escape both.
func scanEntries(r io.Reader) ([]entry, error) {
	br := bufio.NewReader(r)
	var (
		out     []entry
		cur     strings.Builder
		line    = 1
		start   = 1
		depth   int
		quoted  bool
		comment bool
		escaped bool
		atStart = true // at the first character of an entry
		blank   bool
	)
	flush := func() {
		if strings.TrimSpace(cur.String()) != "" {
			out = append(out, entry{line: start, text: cur.String(), blankOwner: blank})
		}
		cur.Reset()
		atStart = true
	}
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			flush()
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if atStart {
			start, blank, atStart = line, c == ' ' || c == '\t', false
		}
		switch {
		case c == '\n':
			line++
			comment = false
			if depth == 0 && !quoted {
				flush()
				continue
			}
			cur.WriteByte(' ')
			continue
		case comment:
			continue
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ';':
			comment = true
			continue
		case c == '(':
			depth++
			cur.WriteByte(' ')
			continue
		case c == ')':
			if depth > 0 {
				depth--
			}
			cur.WriteByte(' ')
			continue
		}
		cur.WriteByte(c)
	}
}

// fields splits an entry into its tokens; a quoted string is one token.
func fields(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && (c == ' ' || c == '\t' || c == '\r'):
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteByte(c)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// Check applies every rule that a zone file allows: the record rules, with targets resolved within the
// zone (a target outside it is not checked), and the rules about how the file writes names.
func (z *Zone) Check() []Finding {
	fs := slices.Clone(z.Problems)
	d := &Domain{Name: z.Origin, Zones: []string{z.Origin}, Targets: map[string]Target{}}
	d.Looked = func(name string) bool { return dns.IsSubDomain(z.Origin, name) }
	names := map[string][]dns.RR{} // owner -> records, for resolving targets within the zone
	for _, r := range z.Records {
		o := strings.ToLower(r.Header().Name)
		names[o] = append(names[o], r.RR)
	}
	lookalikes := map[string]bool{}
	for _, r := range z.Records {
		owner := r.Header().Name
		switch rr := r.RR.(type) {
		case *dns.SRV:
			if _, ok := ServiceOf(owner); ok {
				d.SRV = append(d.SRV, SRV{SRV: rr, Line: r.Line, Written: r.Written})
			}
		case *dns.NAPTR:
			d.NAPTR = append(d.NAPTR, NAPTR{NAPTR: rr, Line: r.Line, Written: r.Written})
		}
		if f, ok := labelFinding(owner); ok && !lookalikes[strings.ToLower(owner)] {
			lookalikes[strings.ToLower(owner)] = true
			fs = append(fs, f.onLine(r.Line))
		}
	}
	// SRV records a NAPTR points at count wherever they are in the zone.
	for _, n := range d.NAPTR {
		repl := strings.ToLower(n.Replacement)
		if _, ok := ServiceOf(repl); ok {
			continue // already in
		}
		for _, rr := range names[repl] {
			if s, ok := rr.(*dns.SRV); ok {
				d.SRV = append(d.SRV, SRV{SRV: s, Line: lineOf(z, rr)})
			}
		}
	}
	zd := newZoneData(z.Origin, z.Records)
	for _, r := range d.SRV {
		t := strings.ToLower(r.Target)
		if t != "." && dns.IsSubDomain(z.Origin, t) {
			if res, ok := zd.resolve(t); ok {
				d.Targets[t] = res
			}
		}
	}
	return append(fs, d.Check()...)
}

func lineOf(z *Zone, rr dns.RR) int {
	for _, r := range z.Records {
		if r.RR == rr {
			return r.Line
		}
	}
	return 0
}

// zoneData answers questions from a zone file's records the way its authoritative server would
// (RFC 1034 section 4.3.2): names at or below an NS cut belong to the child zone, a name the file does not
// hold is answered from the wildcard of its closest encloser (RFC 4592), and a name with only names below
// it (an empty non-terminal) exists without records.
type zoneData struct {
	origin string
	names  map[string][]dns.RR // owner -> records
	exists map[string]bool     // every owner and every name between an owner and the origin
}

func newZoneData(origin string, records []Record) *zoneData {
	zd := &zoneData{origin: origin, names: map[string][]dns.RR{}, exists: map[string]bool{}}
	for _, r := range records {
		o := strings.ToLower(r.Header().Name)
		zd.names[o] = append(zd.names[o], r.RR)
		for n := o; dns.IsSubDomain(origin, n) && !zd.exists[n]; {
			zd.exists[n] = true
			i, end := dns.NextLabel(n, 0)
			if end {
				break
			}
			n = n[i:]
		}
	}
	return zd
}

// delegated reports whether name is at or below an NS cut of the zone (the origin's own NS records are
// not a cut).
func (zd *zoneData) delegated(name string) bool {
	for n := name; n != zd.origin && dns.IsSubDomain(zd.origin, n); {
		for _, rr := range zd.names[n] {
			if rr.Header().Rrtype == dns.TypeNS {
				return true
			}
		}
		i, end := dns.NextLabel(n, 0)
		if end {
			break
		}
		n = n[i:]
	}
	return false
}

// lookup returns the records the server answers name with (a wildcard's, with a name that does not
// exist), and whether the name exists at all.
func (zd *zoneData) lookup(name string) ([]dns.RR, bool) {
	if zd.exists[name] {
		return zd.names[name], true
	}
	// The closest encloser is the longest existing ancestor; only its wildcard may answer.
	for n := name; dns.IsSubDomain(zd.origin, n); {
		i, end := dns.NextLabel(n, 0)
		if end {
			break
		}
		n = n[i:]
		if zd.exists[n] {
			rrs, ok := zd.names["*."+n]
			return rrs, ok
		}
	}
	return nil, false
}

// resolve resolves a target of the zone with the zone's own records, following aliases (at most 8, as
// resolvers bound chains). It returns false for a target in a delegated child zone, whose records the
// file does not hold. An alias that leads out of the zone, or into a child, leaves the addresses unknown.
func (zd *zoneData) resolve(name string) (Target, bool) {
	var t Target
	if zd.delegated(name) {
		return t, false
	}
	for range 8 {
		if !dns.IsSubDomain(zd.origin, name) || zd.delegated(name) {
			t.Outside = true
			return t, true
		}
		rrs, ok := zd.lookup(name)
		if !ok {
			return t, true
		}
		t.Exists = true
		next := ""
		for _, rr := range rrs {
			switch rr := rr.(type) {
			case *dns.A, *dns.AAAA:
				t.Addrs++
			case *dns.CNAME:
				next = strings.ToLower(rr.Target)
			}
		}
		if next == "" {
			return t, true
		}
		if t.CNAME == "" {
			t.CNAME = next
		}
		name = next
		t.Addrs = 0
	}
	return t, true
}

// otherServices are service labels (without underscores, in lower case) that look like a SIP or XMPP
// label but are services of their own.
var otherServices = map[string]bool{
	"sip.sctp": true, "sips.sctp": true, "sip.ws": true, "sips.ws": true,
	"stun.udp": true, "stun.tcp": true, "stuns.tcp": true, "turn.udp": true, "turn.tcp": true, "turns.tcp": true,
	"imap.tcp": true, "imaps.tcp": true, "pop3.tcp": true, "pop3s.tcp": true, "smtp.tls": true,
	"submission.tcp": true, "submissions.tcp": true, "ldap.tcp": true, "ldaps.tcp": true,
	"http.tcp": true, "https.tcp": true, "xmppconnect.tcp": true, "iax.udp": true,
	"h323cs.tcp": true, "h323ls.udp": true, "h323rs.udp": true,
}

// labelFinding judges the first two labels of an owner name: a service label written in upper case, or
// one that resembles a SIP or XMPP label closely enough to be a typo of it (_xmpp_client._tcp,
// sip._udp, _sips._tls) but is not one, and so is never looked up.
func labelFinding(owner string) (Finding, bool) {
	label, _ := splitLabel(owner)
	if label == "" {
		return Finding{}, false
	}
	first, second, _ := strings.Cut(strings.TrimSuffix(label, "."), ".")
	if !strings.HasPrefix(first, "_") && !strings.HasPrefix(second, "_") {
		return Finding{}, false // a host name, not a service label
	}
	lower := strings.ToLower(label)
	if _, ok := ServiceOf(lower); ok {
		if label != lower {
			return newFinding(CodeLabelCase, owner,
				"label %s works (DNS names match in any case), but write it %s as clients and tools do", strings.TrimSuffix(label, "."), strings.TrimSuffix(lower, ".")), true
		}
		return Finding{}, false
	}
	bare := strings.TrimPrefix(strings.ToLower(first), "_") + "." + strings.TrimPrefix(strings.ToLower(second), "_")
	if otherServices[bare] || registered(first, second) {
		return Finding{}, false
	}
	for _, s := range services {
		l := strings.TrimSuffix(s.Label, ".")
		sf, ss, _ := strings.Cut(l, ".")
		want := sf[1:] + "." + ss[1:]
		norm := strings.ReplaceAll(bare, "_", "-")
		if norm == want || distance(bare, want) <= 2 {
			return newFinding(CodeLookalikeLabel, owner,
				"no client looks up %s; did you mean %s?", strings.TrimSuffix(label, "."), l), true
		}
	}
	return Finding{}, false
}

// registered reports whether _service._proto is a service of its own under RFC 6335: the service name is
// in IANA's registry for that transport protocol (a DNS-SD name registered without a port, for _tcp or
// _udp, as RFC 6763 section 7 uses them). An edit distance alone took _ipp._tcp, _ssh._tcp or _ntp._udp for
// misspelt SIP labels.
func registered(service, proto string) bool {
	if !strings.HasPrefix(service, "_") || !strings.HasPrefix(proto, "_") {
		return false
	}
	name, p := strings.ToLower(service[1:]), strings.ToLower(proto[1:])
	for _, rp := range ianaServices[name] {
		if rp == p || rp == "any" && (p == "tcp" || p == "udp") {
			return true
		}
	}
	return false
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
