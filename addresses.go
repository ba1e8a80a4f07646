package srvhealth

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/coredns/coredns/plugin/metrics"
	"github.com/miekg/dns"

	"github.com/srvhealth/srvhealth/health"
)

// The addresses of monitored targets (filter_addresses). After the SRV answer most clients look the
// target up themselves and ignore the additional section. A target whose IPv6 address is published but
// dead (the server listens on IPv4 only) stays in the SRV answer because its IPv4 address is up, and a
// client that prefers IPv6 then connects to the dead address and hangs. With filter_addresses, an A or
// AAAA answer for a monitored target loses the addresses its probes found down while the target keeps a
// live one; when the asked family has none left but the other has, the answer is NODATA, so the client
// moves to the other family.

// addressQuery returns what is known of the addresses of the target an A or AAAA query asks for, and
// whether the query is one to filter: filter_addresses on, a name under the zones and in the probe scope
// that the monitor has as a target. For every other name it costs one lock-free lookup and no allocation.
func (h *Handler) addressQuery(r *dns.Msg) (health.Addresses, bool) {
	if !h.cfg.FilterAddresses || len(r.Question) != 1 {
		return health.Addresses{}, false
	}
	q := r.Question[0]
	if q.Qtype != dns.TypeA && q.Qtype != dns.TypeAAAA || q.Qclass != dns.ClassINET || !underZones(q.Name, h.cfg.Zones) || !h.inScope(q.Name) {
		return health.Addresses{}, false
	}
	return h.view.Addresses(strings.ToLower(q.Name)) // ToLower allocates only for a name with upper case
}

// addressWriter rewrites the next plugin's A or AAAA answer for a monitored target.
type addressWriter struct {
	dns.ResponseWriter
	h     *Handler
	req   *dns.Msg
	ctx   context.Context
	addrs health.Addresses
}

// WriteMsg implements dns.ResponseWriter.
func (w *addressWriter) WriteMsg(res *dns.Msg) error {
	out, dropped := w.h.rewriteAddresses(w.ctx, w.req, w.h.input(res), w.addrs)
	out = w.h.output(res, out)
	if dropped > 0 {
		addressesDroppedCount.WithLabelValues(metrics.WithServer(w.ctx), dns.TypeToString[w.req.Question[0].Qtype]).Add(float64(dropped))
	}
	return w.ResponseWriter.WriteMsg(out)
}

// rewriteAddresses filters an A or AAAA answer for a monitored target against what its probes found, and
// returns it with the number of address records dropped. An answer it has no business changing (not
// NOERROR, truncated, no address of the asked type at the name, signed and asked with DO) passes
// unchanged; so does one whose every address is down, since the SRV answer already left that target out.
func (h *Handler) rewriteAddresses(ctx context.Context, req, res *dns.Msg, st health.Addresses) (*dns.Msg, int) {
	if res == nil || res.Rcode != dns.RcodeSuccess || res.Truncated {
		return res, 0
	}
	q := req.Question[0]
	asked, down, signed := 0, 0, false
	for _, rr := range res.Answer {
		switch rr := rr.(type) {
		case *dns.RRSIG:
			signed = signed || rr.TypeCovered == q.Qtype
		default:
			if ip, ok := addressOf(rr, q); ok {
				asked++
				if downAddr(st.Down, ip) {
					down++
				}
			}
		}
	}
	if asked == 0 {
		return res, 0
	}
	if opt := req.IsEdns0(); signed && opt != nil && opt.Do() {
		return res, 0 // never touch a signed RRset the client asked DNSSEC for
	}
	now := h.now()
	ttl := h.cfg.MaxTTL
	if !st.Until.IsZero() {
		ttl = min(ttl, max(st.Until.Sub(now), h.cfg.MinTTL))
	}
	c := capper{ttl: uint32(ttl / time.Second)}
	switch {
	case down == 0:
		answer := make([]dns.RR, len(res.Answer))
		copy(answer, res.Answer)
		c.capAll(answer)
		res.Answer = answer
		return res, 0
	case down == asked && !otherFamilyLive(st.Live, q.Qtype):
		return res, 0
	}
	res.AuthenticatedData = false // RFC 4035 §3.2.3: not the RRset the upstream validated
	answer := make([]dns.RR, 0, len(res.Answer)-down)
	for _, rr := range res.Answer {
		if ip, ok := addressOf(rr, q); ok && downAddr(st.Down, ip) {
			continue
		}
		answer = append(answer, rr)
	}
	c.capAll(answer)
	res.Answer = answer
	if down == asked {
		// NODATA: the other family has a live address. RFC 2308 §2.2: the zone's SOA in authority.
		res.Ns = nil
		res.Extra = onlyOPT(res.Extra)
		ask := h.chain().query
		if soa := h.soa.get(ctx, q.Name, now, ask); soa != nil {
			res.Ns = []dns.RR{negativeSOA(soa, c.ttl)}
		}
	}
	return res, down
}

// addressOf returns the address of rr when it is an address record of the asked type at the asked name.
func addressOf(rr dns.RR, q dns.Question) (netip.Addr, bool) {
	var ip []byte
	switch rr := rr.(type) {
	case *dns.A:
		ip = rr.A.To4()
	case *dns.AAAA:
		ip = rr.AAAA
	default:
		return netip.Addr{}, false
	}
	if rr.Header().Rrtype != q.Qtype || !strings.EqualFold(rr.Header().Name, q.Name) {
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}

func downAddr(down []netip.Addr, a netip.Addr) bool {
	for _, d := range down {
		if d.Unmap() == a {
			return true
		}
	}
	return false
}

// otherFamilyLive reports whether live has an address of the family the query did not ask for.
func otherFamilyLive(live []netip.Addr, qtype uint16) bool {
	for _, a := range live {
		if a.Unmap().Is4() != (qtype == dns.TypeA) {
			return true
		}
	}
	return false
}
