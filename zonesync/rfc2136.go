package zonesync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// TSIGKey is a TSIG key as tsig-keygen writes it.
type TSIGKey struct {
	Name      string // fully qualified, lower case
	Algorithm string // a miekg/dns algorithm name: hmac-sha256.
	Secret    string // base64
}

var (
	keyName   = regexp.MustCompile(`key\s+"?([^"\s{]+)"?\s*\{`)
	keyAlg    = regexp.MustCompile(`algorithm\s+"?([A-Za-z0-9-]+)"?\s*;`)
	keySecret = regexp.MustCompile(`secret\s+"([^"]+)"\s*;`)
)

// ReadTSIGKey reads the first key of a file in BIND's key syntax (tsig-keygen, ddns-confgen, Knot's
// keymgr -t output converted, or a key clause of named.conf):
//
//	key "sync-key" {
//		algorithm hmac-sha256;
//		secret "base64...";
//	};
func ReadTSIGKey(path string) (TSIGKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return TSIGKey{}, err
	}
	return ParseTSIGKey(string(b))
}

// ParseTSIGKey parses the first key clause of text; see ReadTSIGKey.
func ParseTSIGKey(text string) (TSIGKey, error) {
	// Comments (# and //) are dropped line by line; a secret holds no '#' or '/' outside base64's '/', so
	// only a '//' or a '#' that starts a comment is cut.
	var lines []string
	for l := range strings.Lines(text) {
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		if i := strings.Index(l, "//"); i >= 0 {
			l = l[:i]
		}
		lines = append(lines, l)
	}
	text = strings.Join(lines, "")
	n, a, s := keyName.FindStringSubmatch(text), keyAlg.FindStringSubmatch(text), keySecret.FindStringSubmatch(text)
	if n == nil || a == nil || s == nil {
		return TSIGKey{}, errors.New(`no key clause (key "NAME" { algorithm ALG; secret "BASE64"; };)`)
	}
	alg := dns.Fqdn(strings.ToLower(a[1]))
	switch alg {
	case dns.HmacSHA1, dns.HmacSHA224, dns.HmacSHA256, dns.HmacSHA384, dns.HmacSHA512:
	default:
		return TSIGKey{}, fmt.Errorf("TSIG algorithm %s is not supported (hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512)", a[1])
	}
	return TSIGKey{Name: dns.Fqdn(strings.ToLower(n[1])), Algorithm: alg, Secret: s[1]}, nil
}

// RFC2136 is a primary server that takes dynamic updates (RFC 2136) signed with TSIG (RFC 8945): BIND,
// Knot, PowerDNS with a backend that takes updates, Windows DNS.
type RFC2136 struct {
	Server  string   // host:port of the primary
	Zone    string   // the zone, fully qualified
	Names   []string // the owner names whose SRV RRsets are managed
	Key     *TSIGKey // nil: unsigned updates
	Timeout time.Duration
}

func (p *RFC2136) Name() string { return "rfc2136" }

func (p *RFC2136) client() *dns.Client {
	c := &dns.Client{Net: "tcp", Timeout: p.Timeout}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if p.Key != nil {
		c.TsigSecret = map[string]string{p.Key.Name: p.Key.Secret}
	}
	return c
}

// Records asks the primary itself for the SRV RRset of each managed name, over TCP and without recursion,
// so the answer is the primary's own data and never a cache's.
func (p *RFC2136) Records(ctx context.Context) (map[string]RRset, error) {
	out := map[string]RRset{}
	for _, name := range p.Names {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeSRV)
		m.RecursionDesired = false
		r, _, err := p.client().ExchangeContext(ctx, m, p.Server)
		if err != nil {
			return nil, fmt.Errorf("SRV %s at %s: %w", name, p.Server, err)
		}
		switch {
		case r.Rcode == dns.RcodeNameError:
			continue
		case r.Rcode != dns.RcodeSuccess:
			return nil, fmt.Errorf("SRV %s at %s: %s", name, p.Server, dns.RcodeToString[r.Rcode])
		case !r.Authoritative:
			return nil, fmt.Errorf("SRV %s at %s: the answer is not authoritative; --update must name the zone's primary", name, p.Server)
		}
		if s := FromRRs(dns.Fqdn(name), r.Answer); s.Exists() {
			out[s.Name] = s
		}
	}
	return out, nil
}

// UpdateError is an UPDATE the server refused: its rcode, and the TSIG error when the server gave one.
type UpdateError struct {
	Rcode     int
	TSIGError uint16 // 0: none (BADSIG 16, BADKEY 17, BADTIME 18)
	Err       error  // the client's error (for example the unsigned reply to a badly signed update), or nil
}

func (e *UpdateError) Error() string {
	s := "update refused: " + rcodeName(e.Rcode)
	if e.TSIGError != 0 {
		s += ", TSIG error " + rcodeName(int(e.TSIGError))
	}
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

// Apply sends one UPDATE per change: the prerequisite is Before (RFC 2136 §2.4.2, RRset exists, value
// dependent; or §2.4.3, RRset does not exist, when Before is empty), then the RRset is deleted and
// After added, in one message the server applies atomically. A prerequisite that fails (NXRRSET, YXRRSET)
// is a *ConflictError.
func (p *RFC2136) Apply(ctx context.Context, changes []Change) error {
	for _, c := range changes {
		m := new(dns.Msg)
		m.SetUpdate(dns.Fqdn(p.Zone))
		if c.Before.Exists() {
			m.Used(c.Before.RRs())
		} else {
			m.RRsetNotUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: c.After.Name, Rrtype: dns.TypeSRV}}})
		}
		m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: c.After.Name, Rrtype: dns.TypeSRV}}})
		m.Insert(c.After.RRs())
		if p.Key != nil {
			m.SetTsig(p.Key.Name, p.Key.Algorithm, 300, time.Now().Unix())
		}
		r, _, err := p.client().ExchangeContext(ctx, m, p.Server)
		if r == nil {
			return fmt.Errorf("update of %s SRV at %s: %w", c.After.Name, p.Server, err)
		}
		var tsigErr uint16
		if t := r.IsTsig(); t != nil {
			tsigErr = t.Error
		}
		switch {
		case r.Rcode == dns.RcodeNXRrset || r.Rcode == dns.RcodeYXRrset:
			return &ConflictError{Name: c.After.Name, Detail: "prerequisite " + c.Before.String() + " failed: " + rcodeName(r.Rcode)}
		case r.Rcode != dns.RcodeSuccess || tsigErr != 0 || err != nil:
			return &UpdateError{Rcode: r.Rcode, TSIGError: tsigErr, Err: err}
		}
	}
	return nil
}
