// Package zonesync keeps SRV RRsets at a zone's real home (a primary server that takes RFC 2136 UPDATE,
// Route 53, Cloudflare) equal to what srvhealth would serve, external-dns style: a planner compares the
// desired RRsets with the current ones and makes the changes, and a Provider only reads and applies them.
// It knows nothing of probes or health: the caller says what is desired.
package zonesync

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// SRV is the data of one SRV record.
type SRV struct {
	Priority, Weight, Port uint16
	Target                 string // fully qualified, lower case; "." is RFC 2782's "decidedly not available"
}

func (s SRV) String() string {
	return strconv.Itoa(int(s.Priority)) + " " + strconv.Itoa(int(s.Weight)) + " " + strconv.Itoa(int(s.Port)) + " " + s.Target
}

func compareSRV(a, b SRV) int {
	return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.Weight, b.Weight), cmp.Compare(a.Port, b.Port),
		strings.Compare(a.Target, b.Target))
}

// RRset is the SRV RRset of one owner name. An RRset with no records does not exist.
type RRset struct {
	Name    string // fully qualified, lower case
	TTL     uint32
	Records []SRV // sorted, without duplicates (see Normalize)
}

// Normalize returns s with its name and targets fully qualified in lower case and its records sorted and
// without duplicates, so that two equal RRsets compare equal whatever order a provider lists them in.
func (s RRset) Normalize() RRset {
	out := RRset{Name: strings.ToLower(dns.Fqdn(s.Name)), TTL: s.TTL, Records: make([]SRV, 0, len(s.Records))}
	for _, r := range s.Records {
		r.Target = strings.ToLower(dns.Fqdn(r.Target))
		out.Records = append(out.Records, r)
	}
	slices.SortFunc(out.Records, compareSRV)
	out.Records = slices.Compact(out.Records)
	return out
}

// Exists reports whether the RRset has records.
func (s RRset) Exists() bool { return len(s.Records) > 0 }

// Equal reports whether s and o have the same name, TTL and records. An RRset that does not exist equals
// another that does not, whatever their TTLs.
func (s RRset) Equal(o RRset) bool {
	if !s.Exists() && !o.Exists() {
		return s.Name == o.Name
	}
	return s.Name == o.Name && s.TTL == o.TTL && slices.Equal(s.Records, o.Records)
}

// SameRecords reports whether s and o hold the same records, ignoring the TTL (as an RFC 2136
// value-dependent prerequisite does).
func (s RRset) SameRecords(o RRset) bool { return slices.Equal(s.Records, o.Records) }

// String writes the RRset as its records' data: "[10 50 5060 a.example.com., 20 0 5060 b.example.com.] ttl 300",
// or "[]" when it does not exist.
func (s RRset) String() string {
	parts := make([]string, len(s.Records))
	for i, r := range s.Records {
		parts[i] = r.String()
	}
	if len(parts) == 0 {
		return "[]"
	}
	return "[" + strings.Join(parts, ", ") + "] ttl " + strconv.Itoa(int(s.TTL))
}

// RRs returns the RRset as miekg/dns records.
func (s RRset) RRs() []dns.RR {
	out := make([]dns.RR, len(s.Records))
	for i, r := range s.Records {
		out[i] = &dns.SRV{Hdr: dns.RR_Header{Name: s.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: s.TTL},
			Priority: r.Priority, Weight: r.Weight, Port: r.Port, Target: r.Target}
	}
	return out
}

// FromRRs returns the SRV RRset named name among rrs (records of other names and types are ignored); its
// TTL is the lowest of its records'.
func FromRRs(name string, rrs []dns.RR) RRset {
	s := RRset{Name: name}
	for _, rr := range rrs {
		srv, ok := rr.(*dns.SRV)
		if !ok || !strings.EqualFold(srv.Hdr.Name, name) {
			continue
		}
		if len(s.Records) == 0 || srv.Hdr.Ttl < s.TTL {
			s.TTL = srv.Hdr.Ttl
		}
		s.Records = append(s.Records, SRV{Priority: srv.Priority, Weight: srv.Weight, Port: srv.Port, Target: srv.Target})
	}
	return s.Normalize()
}

// Change replaces the RRset Before (what the provider held when it was last read or written: the
// expectation a concurrent change is detected against) with After, which always has records.
type Change struct {
	Before, After RRset
}

func (c Change) String() string {
	return fmt.Sprintf("%s SRV %s -> %s", c.After.Name, c.Before, c.After)
}

// Plan returns the changes that make current (by name) hold desired: one per desired RRset that differs
// from the current one. RRsets that are not desired are never touched, and a desired RRset with no
// records is skipped (an empty RRset is never written).
func Plan(desired []RRset, current map[string]RRset) []Change {
	var out []Change
	for _, d := range desired {
		d = d.Normalize()
		if !d.Exists() {
			continue
		}
		cur, ok := current[d.Name]
		if !ok {
			cur = RRset{Name: d.Name}
		}
		if !cur.Equal(d) {
			out = append(out, Change{Before: cur, After: d})
		}
	}
	return out
}

// Provider reads and writes the SRV RRsets of one zone at its real home.
type Provider interface {
	// Name is the provider's name in logs and metrics: rfc2136, route53, cloudflare.
	Name() string
	// Records returns the current SRV RRsets of the names the provider manages, by name; a name with no
	// SRV RRset is absent.
	Records(ctx context.Context) (map[string]RRset, error)
	// Apply makes every change, each only if the RRset still holds its Before. A change whose RRset holds
	// something else (someone changed it since it was read or written) is not made: Apply returns a
	// *ConflictError for it, and the caller reads again and plans again.
	Apply(ctx context.Context, changes []Change) error
}

// ConflictError says that an RRset was changed by someone else since it was read or written.
type ConflictError struct {
	Name   string
	Detail string // how the provider noticed: "prerequisite failed: NXRRSET", "re-read holds [...]"
}

func (e *ConflictError) Error() string {
	return e.Name + " SRV was changed by someone else (" + e.Detail + ")"
}
