// Package dnsapi holds in-process fakes of the DNS APIs srvhealth sync writes to, built from the providers'
// documented request and response shapes: Route 53's REST/XML API (ChangeResourceRecordSets, GetChange,
// ListResourceRecordSets) and Cloudflare's v4 dns_records API with its result envelope. They hold the
// records in memory, check what the clients send, and let tests change records behind the client's back.
// They are fakes, not emulators: only what srvhealth sync uses is there.
package dnsapi

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

const route53NS = "https://route53.amazonaws.com/doc/2013-04-01/"

// R53Set is a resource record set as Route 53 holds it.
type R53Set struct {
	Name   string // fully qualified, lower case
	Type   string
	TTL    int64
	Values []string
}

// Route53 fakes one hosted zone. Each change is PENDING for the first PendingPolls GetChange calls, then
// INSYNC.
type Route53 struct {
	ZoneID       string
	PendingPolls int

	mu       sync.Mutex
	sets     map[[2]string]R53Set // (name, type)
	changes  map[string]int       // change id -> GetChange calls so far
	Batches  [][]R53Change        // every change batch received, in order
	GetCalls int
	seq      int
	srv      *httptest.Server
}

// R53Change is one change of a batch as received.
type R53Change struct {
	Action string
	Set    R53Set
}

// NewRoute53 starts the fake with sets in it; Close it when done.
func NewRoute53(zoneID string, sets ...R53Set) *Route53 {
	f := &Route53{ZoneID: zoneID, sets: map[[2]string]R53Set{}, changes: map[string]int{}}
	for _, s := range sets {
		f.Put(s)
	}
	f.srv = httptest.NewServer(f)
	return f
}

// URL is the endpoint to point the SDK at (BaseEndpoint, or AWS_ENDPOINT_URL_ROUTE_53).
func (f *Route53) URL() string { return f.srv.URL }

// Close stops the server.
func (f *Route53) Close() { f.srv.Close() }

// Put sets a record set, as a manual change in the console would.
func (f *Route53) Put(s R53Set) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s.Name = strings.ToLower(dns.Fqdn(s.Name))
	f.sets[[2]string{s.Name, s.Type}] = s
}

// Get returns a record set and whether it exists.
func (f *Route53) Get(name, typ string) (R53Set, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sets[[2]string{strings.ToLower(dns.Fqdn(name)), typ}]
	return s, ok
}

// All returns every record set, sorted.
func (f *Route53) All() []R53Set {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sorted()
}

// sorted lists the sets in Route 53's order: by name with its labels reversed, then by type.
func (f *Route53) sorted() []R53Set {
	out := make([]R53Set, 0, len(f.sets))
	for _, s := range f.sets {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b R53Set) int {
		if c := strings.Compare(reversed(a.Name), reversed(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.Type, b.Type)
	})
	return out
}

func reversed(name string) string {
	l := dns.SplitDomainName(name)
	slices.Reverse(l)
	return strings.Join(l, ".")
}

type xmlRRSet struct {
	Name            string      `xml:"Name"`
	Type            string      `xml:"Type"`
	TTL             int64       `xml:"TTL"`
	SetIdentifier   string      `xml:"SetIdentifier,omitempty"`
	ResourceRecords []xmlRecord `xml:"ResourceRecords>ResourceRecord"`
}

type xmlRecord struct {
	Value string `xml:"Value"`
}

func values(rs []xmlRecord) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Value
	}
	return out
}

func records(vs []string) []xmlRecord {
	out := make([]xmlRecord, len(vs))
	for i, v := range vs {
		out[i] = xmlRecord{v}
	}
	return out
}

type xmlChangeInfo struct {
	ID          string `xml:"Id"`
	Status      string `xml:"Status"`
	SubmittedAt string `xml:"SubmittedAt"`
}

func (f *Route53) error(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(code)
	fmt.Fprintf(w, `<?xml version="1.0"?><ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fake</RequestId></ErrorResponse>`, route53NS, typ, msg)
}

func (f *Route53) write(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "text/xml")
	b, err := xml.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Write([]byte(xml.Header))
	w.Write(b)
}

// ServeHTTP serves the three calls: POST /2013-04-01/hostedzone/ID/rrset, GET /2013-04-01/change/ID and
// GET /2013-04-01/hostedzone/ID/rrset?name=&type=&maxitems=.
func (f *Route53) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		f.error(w, http.StatusForbidden, "MissingAuthenticationToken", "request not signed")
		return
	}
	zonePath := "/2013-04-01/hostedzone/" + f.ZoneID + "/rrset"
	switch {
	case r.Method == http.MethodPost && strings.TrimSuffix(r.URL.Path, "/") == zonePath:
		f.change(w, r)
	case r.Method == http.MethodGet && strings.TrimSuffix(r.URL.Path, "/") == zonePath:
		f.list(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/2013-04-01/change/"):
		f.getChange(w, strings.TrimPrefix(r.URL.Path, "/2013-04-01/change/"))
	case strings.HasPrefix(r.URL.Path, "/2013-04-01/hostedzone/"):
		f.error(w, http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: "+r.URL.Path)
	default:
		f.error(w, http.StatusBadRequest, "InvalidInput", "unexpected "+r.Method+" "+r.URL.Path)
	}
}

func (f *Route53) change(w http.ResponseWriter, r *http.Request) {
	var req struct {
		XMLName xml.Name `xml:"ChangeResourceRecordSetsRequest"`
		Comment string   `xml:"ChangeBatch>Comment"`
		Changes []struct {
			Action string   `xml:"Action"`
			Set    xmlRRSet `xml:"ResourceRecordSet"`
		} `xml:"ChangeBatch>Changes>Change"`
	}
	if err := xml.NewDecoder(r.Body).Decode(&req); err != nil || req.XMLName.Space != route53NS {
		f.error(w, http.StatusBadRequest, "InvalidInput", fmt.Sprintf("not a ChangeResourceRecordSetsRequest in %s: %v", route53NS, err))
		return
	}
	if len(req.Changes) == 0 {
		f.error(w, http.StatusBadRequest, "InvalidChangeBatch", "no change")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var batch []R53Change
	for _, c := range req.Changes {
		s := R53Set{Name: strings.ToLower(dns.Fqdn(c.Set.Name)), Type: c.Set.Type, TTL: c.Set.TTL, Values: values(c.Set.ResourceRecords)}
		if !strings.HasSuffix(c.Set.Name, ".") {
			// Route 53 accepts both; the runbook's trailing dot is what srvhealth writes.
			f.error(w, http.StatusBadRequest, "InvalidChangeBatch", "name without the trailing dot: "+c.Set.Name)
			return
		}
		switch c.Action {
		case "UPSERT", "CREATE":
			if len(s.Values) == 0 {
				f.error(w, http.StatusBadRequest, "InvalidChangeBatch", "an RRset needs at least one record")
				return
			}
			for _, v := range s.Values {
				if _, err := dns.NewRR(s.Name + " IN " + s.Type + " " + v); err != nil {
					f.error(w, http.StatusBadRequest, "InvalidChangeBatch", "bad value "+v)
					return
				}
			}
		case "DELETE":
		default:
			f.error(w, http.StatusBadRequest, "InvalidInput", "bad action "+c.Action)
			return
		}
		batch = append(batch, R53Change{Action: c.Action, Set: s})
	}
	for _, c := range batch {
		k := [2]string{c.Set.Name, c.Set.Type}
		if c.Action == "DELETE" {
			delete(f.sets, k)
		} else {
			f.sets[k] = c.Set
		}
	}
	f.Batches = append(f.Batches, batch)
	f.seq++
	id := "C" + strconv.Itoa(f.seq) + "FAKE"
	f.changes[id] = 0
	f.write(w, struct {
		XMLName    xml.Name      `xml:"ChangeResourceRecordSetsResponse"`
		NS         string        `xml:"xmlns,attr"`
		ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
	}{NS: route53NS, ChangeInfo: xmlChangeInfo{ID: "/change/" + id, Status: "PENDING", SubmittedAt: time.Now().UTC().Format(time.RFC3339)}})
}

func (f *Route53) getChange(w http.ResponseWriter, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.GetCalls++
	n, ok := f.changes[id]
	if !ok {
		f.error(w, http.StatusNotFound, "NoSuchChange", "no change "+id)
		return
	}
	f.changes[id] = n + 1
	status := "INSYNC"
	if f.PendingPolls < 0 || n < f.PendingPolls {
		status = "PENDING"
	}
	f.write(w, struct {
		XMLName    xml.Name      `xml:"GetChangeResponse"`
		NS         string        `xml:"xmlns,attr"`
		ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
	}{NS: route53NS, ChangeInfo: xmlChangeInfo{ID: "/change/" + id, Status: status, SubmittedAt: time.Now().UTC().Format(time.RFC3339)}})
}

func (f *Route53) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, typ := strings.ToLower(dns.Fqdn(q.Get("name"))), q.Get("type")
	if typ != "" && q.Get("name") == "" {
		f.error(w, http.StatusBadRequest, "InvalidInput", "type without name")
		return
	}
	max := 300
	if m := q.Get("maxitems"); m != "" {
		max, _ = strconv.Atoi(m)
	}
	f.mu.Lock()
	all := f.sorted()
	f.mu.Unlock()
	i := 0
	if q.Get("name") != "" {
		i, _ = slices.BinarySearchFunc(all, R53Set{Name: start, Type: typ}, func(a, b R53Set) int {
			if c := strings.Compare(reversed(a.Name), reversed(b.Name)); c != 0 {
				return c
			}
			return strings.Compare(a.Type, b.Type)
		})
	}
	type resp struct {
		XMLName        xml.Name   `xml:"ListResourceRecordSetsResponse"`
		NS             string     `xml:"xmlns,attr"`
		Sets           []xmlRRSet `xml:"ResourceRecordSets>ResourceRecordSet"`
		IsTruncated    bool       `xml:"IsTruncated"`
		MaxItems       int        `xml:"MaxItems"`
		NextRecordName string     `xml:"NextRecordName,omitempty"`
		NextRecordType string     `xml:"NextRecordType,omitempty"`
	}
	out := resp{NS: route53NS, MaxItems: max}
	for ; i < len(all); i++ {
		if len(out.Sets) == max {
			out.IsTruncated, out.NextRecordName, out.NextRecordType = true, all[i].Name, all[i].Type
			break
		}
		s := all[i]
		out.Sets = append(out.Sets, xmlRRSet{Name: s.Name, Type: s.Type, TTL: s.TTL, ResourceRecords: records(s.Values)})
	}
	f.write(w, out)
}
