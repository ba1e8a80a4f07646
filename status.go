package srvhealth

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
	"github.com/srvhealth/srvhealth/probe"
)

// Status over DNS: with the status property, srvhealth answers CHAOS-class TXT queries (the convention of
// version.bind and the chaos plugin) with what it thinks of the targets right now, so that the first
// question at 3 a.m., "which targets are down, since when, and why?", is one dig away:
//
//	dig @server CH TXT _sip._udp.example.com   the targets of one service, as its SRV records list them
//	dig @server CH TXT srvhealth.example.com   every target the block monitors (srvhealth.ZONE for any of
//	                                           the block's zones; CoreDNS routes a query by its name)
//
// Each target is one TXT record of "key=value" strings: target, port, probe, domain, state, since, checked,
// prober (in a fleet, the member whose round the state comes from), and one "addr=" string per probed address with its state, the last probe's round-trip time and result.
// Only clients inside the allowed CIDRs are answered. Everyone else's query goes on to the next plugin, as
// any other CH TXT query does: a REFUSED for the status names alone would tell an outsider which services
// and zones are monitored.

// reporter is where the status reads the targets' state: the block's monitor, or a fake in tests.
type reporter interface {
	Reports() []health.Report
	Report(k health.Key) (health.Report, bool)
}

// source returns the reporter of the status; nil when there is none.
func (h *Handler) source() reporter {
	if h.reports != nil {
		return h.reports
	}
	if h.monitor != nil {
		return h.monitor
	}
	return nil
}

// maxStatusRow bounds the octets of one target's TXT record (its strings with their length octets).
const maxStatusRow = 2048

// statusLabel is the label that, in front of one of the block's zones, names the CH TXT answer that
// lists every monitored target.
const statusLabel = "srvhealth."

// statusAll reports whether name is srvhealth.ZONE for one of the zones ("srvhealth." for the root).
func statusAll(name string, zones []string) bool {
	if len(name) < len(statusLabel) || !strings.EqualFold(name[:len(statusLabel)], statusLabel) {
		return false
	}
	rest := name[len(statusLabel):]
	if rest == "" {
		rest = "."
	}
	for _, z := range zones {
		if strings.EqualFold(rest, z) {
			return true
		}
	}
	return false
}

// defaultStatusAllow are the clients allowed when the status property names none: loopback only.
var defaultStatusAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// statusQuery reports whether r asks for the status (CH TXT, a status name) of a block that answers it,
// from a client it answers.
func (h *Handler) statusQuery(w dns.ResponseWriter, r *dns.Msg) bool {
	if h.cfg.StatusAllow == nil || len(r.Question) != 1 {
		return false
	}
	q := r.Question[0]
	return q.Qclass == dns.ClassCHAOS && q.Qtype == dns.TypeTXT && (statusAll(q.Name, h.cfg.Zones) || h.cfg.match(q.Name) != nil) &&
		allowed(h.cfg.StatusAllow, w.RemoteAddr())
}

// serveStatus answers a status query.
func (h *Handler) serveStatus(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	state := request.Request{W: w, Req: r}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	q := r.Question[0]
	var lines [][]string
	if statusAll(q.Name, h.cfg.Zones) {
		lines = h.allStatus()
	} else {
		lines = h.serviceStatus(ctx, q.Name, h.cfg.match(q.Name))
	}
	for _, l := range lines {
		m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS}, Txt: l})
	}
	// Large answers follow the DNS rules: truncated (TC) over UDP within the client's buffer, whole over TCP
	// (up to the 64 KiB a DNS message can hold).
	m.Truncate(state.Size())
	if err := w.WriteMsg(m); err != nil {
		// The server then answers SERVFAIL, so the client is not left waiting; logged once, not per query.
		h.statusFailed.Do(func() {
			log.Warningf("status: cannot write the answer to CH TXT %s for %s: %v (logged once)", q.Name, w.RemoteAddr(), err)
		})
		return dns.RcodeServerFailure, nil
	}
	return dns.RcodeSuccess, nil
}

func allowed(allow []netip.Prefix, addr net.Addr) bool {
	var ip net.IP
	switch a := addr.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	default:
		return false
	}
	a, ok := netip.AddrFromSlice(ip)
	return ok && inPrefixes(allow, a)
}

// allStatus reports every target of the block's monitor, sorted by target, port and probe.
func (h *Handler) allStatus() [][]string {
	src := h.source()
	if src == nil {
		return nil
	}
	reports := src.Reports()
	slices.SortFunc(reports, func(a, b health.Report) int {
		return cmp.Or(cmp.Compare(a.Key.Target, b.Key.Target), cmp.Compare(a.Key.Port, b.Key.Port),
			cmp.Compare(a.Key.Method.String(), b.Key.Method.String()), cmp.Compare(a.Key.Domain, b.Key.Domain))
	})
	out := make([][]string, 0, len(reports))
	for _, r := range reports {
		out = append(out, statusStrings(r.Key.Target, r.Key.Port, r.Key.Method, r, true, h.cfg.Drained(r.Key.Target, r.Key.Port)))
	}
	return out
}

// serviceStatus reports the targets of one SRV name, as the plugins after srvhealth list them now: those
// the monitor has, and those it does not probe (out of scope) or has not seen yet.
func (h *Handler) serviceStatus(ctx context.Context, name string, svc *Service) [][]string {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	res, err := h.chain().query(ctx, name, dns.TypeSRV)
	if err != nil {
		return [][]string{{"error=" + err.Error()}}
	}
	domain := serviceDomain(name)
	var out [][]string
	for _, rr := range res.Answer {
		s, ok := rr.(*dns.SRV)
		if !ok || s.Target == "." {
			continue
		}
		target := strings.ToLower(s.Target)
		d := h.cfg.Drained(target, s.Port)
		if !h.inScope(s.Target) {
			out = append(out, statusStrings(target, s.Port, svc.Method, health.Report{Domain: domain}, false, d))
			continue
		}
		var rep health.Report
		found := false
		if src := h.source(); src != nil {
			rep, found = src.Report(health.NewKey(s.Target, s.Port, svc.Method, domain))
		}
		if !found {
			rep.Domain = domain
		}
		out = append(out, statusStrings(target, s.Port, svc.Method, rep, true, d))
	}
	return out
}

// statusStrings renders one target as the strings of its TXT record.
func statusStrings(target string, port uint16, m probe.Method, r health.Report, inScope, isDrained bool) []string {
	out := []string{"target=" + target, "port=" + strconv.Itoa(int(port)), "probe=" + m.String()}
	if r.Domain != "" {
		out = append(out, "domain="+r.Domain)
	}
	probed := targetState(r, inScope)
	if isDrained {
		out = append(out, "state=drained", "probed="+probed)
	} else {
		out = append(out, "state="+probed)
	}
	if !r.Since.IsZero() {
		out = append(out, "since="+r.Since.UTC().Format(time.RFC3339))
	}
	if !r.Status.Checked.IsZero() {
		out = append(out, "checked="+r.Status.Checked.UTC().Format(time.RFC3339))
	}
	if r.Prober != "" {
		out = append(out, "prober="+r.Prober) // in a fleet: the member whose round the state comes from
	}
	for i := range out {
		out[i] = statusString(out[i]) // a target or domain name in presentation format can be long too
	}
	size := 0
	for _, s := range out {
		size += 1 + len(s)
	}
	for i, a := range r.Addrs {
		reason := a.Last.Reason
		if reason == "" {
			reason = "ok"
			if !a.Last.Up {
				reason = "failed"
			}
		}
		s := statusString(fmt.Sprintf("addr=%s %s %s %s", a.Addr, a.State, roundRTT(a.Last.Duration), reason))
		if size+1+len(s) > maxStatusRow-statusOmittedRoom {
			out = append(out, "addrs_omitted="+strconv.Itoa(len(r.Addrs)-i))
			break
		}
		out = append(out, s)
		size += 1 + len(s)
	}
	return out
}

// statusOmittedRoom is the room a row keeps for its "addrs_omitted=N" string.
const statusOmittedRoom = 32

// statusString returns s fit to be one string of a status TXT record: control characters as spaces (the
// status is read by people, in dig and in the srvhealth status table), and at most 255 octets, the most a
// character string holds (RFC 1035 §3.3); a longer one is cut at a UTF-8 boundary and ends in "...". What
// a probed server says (a SIP reason phrase, an XMPP stream error) goes through here, so however long or
// odd it is, the answer still packs.
func statusString(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		s = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, s)
	}
	// miekg/dns keeps TXT strings in presentation form and reads a backslash as the start of an escape
	// when it packs one ("\\065" goes out as "A", a trailing one is dropped), so a backslash of the text is
	// written as two. The bound applies to that form, never shorter than what goes on the wire.
	s = strings.ReplaceAll(s, `\`, `\\`)
	const max = 255
	if len(s) <= max {
		return s
	}
	cut := max - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if n := len(s[:cut]) - len(strings.TrimRight(s[:cut], `\`)); n%2 == 1 {
		cut-- // not half of an escaped backslash
	}
	return s[:cut] + "..."
}

// targetState is the state of a target as the status shows it.
func targetState(r health.Report, inScope bool) string {
	st := r.Status
	switch {
	case !inScope:
		return "out of scope"
	case r.Key.Target == "":
		return "unknown" // not monitored (yet): not seen in an answer since the monitor started
	case !st.Resolved:
		return "not resolved"
	case st.CNAME:
		return "cname"
	case st.NoAddress:
		return "no address"
	}
	return st.State.String()
}

// roundRTT writes a round-trip time in ASCII (a TXT string is bytes: dig would escape a µ).
func roundRTT(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.3fs", d.Seconds())
	}
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}
