package srvhealth

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// soaFailedFor is how long a domain whose SOA could not be had is left alone before it is asked again:
// long enough that a broken upstream is not asked once per negative answer.
const soaFailedFor = 30 * time.Second

// soaCache keeps the SOA record of the zone of each service domain srvhealth made a negative answer for.
// A NODATA answer carries the zone's SOA in its authority section (RFC 2308 §2.2): resolvers cache it for
// the SOA's minimum and never mistake it for a referral, which an empty answer with the apex NS looks like
// behind forward (AA=0). The SOA comes from the plugins after srvhealth, asked once per domain and kept for
// its own TTL, never once per query. The zero value is ready to use.
type soaCache struct {
	mu sync.Mutex
	m  map[string]soaEntry // by domain, lower case
}

type soaEntry struct {
	soa   *dns.SOA // nil: none could be had
	until time.Time
}

// maxSOAs bounds the cache; past it the cache starts again, which costs one query per domain.
const maxSOAs = 4096

// get returns the SOA of the zone holding name, asking ask for it when it is not known or has expired;
// nil when none can be had. A SOA is kept for its TTL, but at least a minute.
func (c *soaCache) get(ctx context.Context, name string, now time.Time, ask func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error)) *dns.SOA {
	key := strings.ToLower(name)
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.soa
	}
	e = soaEntry{until: now.Add(soaFailedFor)}
	if m, err := ask(ctx, name, dns.TypeSOA); err == nil {
		e.soa = findSOA(m)
	}
	if e.soa != nil {
		e.until = now.Add(max(time.Duration(e.soa.Hdr.Ttl)*time.Second, time.Minute))
	} else if ctx.Err() != nil {
		return nil // the client's query ended: that says nothing about the zone
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxSOAs {
		c.m = map[string]soaEntry{}
	}
	c.m[key] = e
	c.mu.Unlock()
	return e.soa
}

// findSOA returns the SOA of a reply to a SOA query: in the answer at the apex, in the authority section
// of a negative answer below it.
func findSOA(m *dns.Msg) *dns.SOA {
	if m == nil || (m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError) {
		return nil
	}
	for _, sec := range [][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range sec {
			if soa, ok := rr.(*dns.SOA); ok {
				return soa
			}
		}
	}
	return nil
}

// negativeSOA returns the copy of soa a negative answer carries, its TTL lowered to the negative-caching
// time (RFC 2308 §5: the lesser of the SOA's TTL and its minimum) and to at most ttl.
func negativeSOA(soa *dns.SOA, ttl uint32) *dns.SOA {
	c := *soa
	c.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl, ttl)
	return &c
}
