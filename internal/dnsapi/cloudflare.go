package dnsapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CFRecord is a DNS record as Cloudflare's API holds it; SRV records carry their data in Data.
type CFRecord struct {
	ID      string  `json:"id"`
	Name    string  `json:"name"` // no trailing dot
	Type    string  `json:"type"`
	TTL     int     `json:"ttl"`
	Content string  `json:"content,omitempty"`
	Data    *CFData `json:"data,omitempty"`
	Proxied bool    `json:"proxied"`
}

// CFData is the data object of an SRV record.
type CFData struct {
	Priority int    `json:"priority"`
	Weight   int    `json:"weight"`
	Port     int    `json:"port"`
	Target   string `json:"target"`
}

// Cloudflare fakes one zone of the v4 API: GET, POST, PUT and DELETE on /zones/ID/dns_records, with the
// {success, errors, messages, result, result_info} envelope, and Bearer token authentication.
type Cloudflare struct {
	ZoneID, Token string

	mu      sync.Mutex
	recs    []CFRecord
	seq     int
	Methods []string // "POST", "PUT", "DELETE" for every write received, in order
	srv     *httptest.Server
}

// NewCloudflare starts the fake with recs in it (their ids are made up); Close it when done.
func NewCloudflare(zoneID, token string, recs ...CFRecord) *Cloudflare {
	f := &Cloudflare{ZoneID: zoneID, Token: token}
	for _, r := range recs {
		f.Add(r)
	}
	f.srv = httptest.NewServer(f)
	return f
}

// URL is the API's base, as CLOUDFLARE_BASE_URL or option.WithBaseURL take it.
func (f *Cloudflare) URL() string { return f.srv.URL + "/client/v4/" }

// Close stops the server.
func (f *Cloudflare) Close() { f.srv.Close() }

// Add adds a record, as a change in the dashboard would, and returns its id.
func (f *Cloudflare) Add(r CFRecord) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	r.ID = "rec" + strconv.Itoa(f.seq)
	f.recs = append(f.recs, r)
	return r.ID
}

// Records returns the records, in the order they were made.
func (f *Cloudflare) Records() []CFRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.recs)
}

type cfMessage struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (f *Cloudflare) reply(w http.ResponseWriter, code int, result any, info any, errs ...cfMessage) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	env := map[string]any{"success": len(errs) == 0, "errors": errs, "messages": []cfMessage{}, "result": result}
	if errs == nil {
		env["errors"] = []cfMessage{}
	}
	if info != nil {
		env["result_info"] = info
	}
	json.NewEncoder(w).Encode(env)
}

func (f *Cloudflare) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.Token {
		f.reply(w, http.StatusForbidden, nil, nil, cfMessage{10000, "Authentication error"})
		return
	}
	base := "/client/v4/zones/" + f.ZoneID + "/dns_records"
	path := strings.TrimSuffix(r.URL.Path, "/")
	id, hasID := strings.CutPrefix(path, base+"/")
	switch {
	case path == base && r.Method == http.MethodGet:
		f.list(w, r)
	case path == base && r.Method == http.MethodPost:
		f.write(w, r, "")
	case hasID && r.Method == http.MethodPut:
		f.write(w, r, id)
	case hasID && r.Method == http.MethodDelete:
		f.delete(w, id)
	default:
		f.reply(w, http.StatusNotFound, nil, nil, cfMessage{7003, "Could not route to " + r.URL.Path + ", perhaps your object identifier is invalid?"})
	}
}

func (f *Cloudflare) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	per, _ := strconv.Atoi(q.Get("per_page"))
	if page < 1 {
		page = 1
	}
	if per < 1 {
		per = 100
	}
	f.mu.Lock()
	var match []CFRecord
	for _, rec := range f.recs {
		if t := q.Get("type"); t != "" && rec.Type != t {
			continue
		}
		if n := q.Get("name.exact"); n != "" && !strings.EqualFold(rec.Name, n) {
			continue
		}
		if n := q.Get("name"); n != "" && !strings.EqualFold(rec.Name, n) {
			continue
		}
		match = append(match, rec)
	}
	f.mu.Unlock()
	from, to := min((page-1)*per, len(match)), min(page*per, len(match))
	pages := (len(match) + per - 1) / per
	f.reply(w, http.StatusOK, withTimes(match[from:to]), map[string]int{"page": page, "per_page": per, "count": to - from,
		"total_count": len(match), "total_pages": pages})
}

// withTimes adds what the real API adds to every record: created_on, modified_on, proxiable, meta.
func withTimes(recs []CFRecord) []map[string]any {
	out := make([]map[string]any, len(recs))
	for i, r := range recs {
		b, _ := json.Marshal(r)
		var m map[string]any
		json.Unmarshal(b, &m)
		now := time.Now().UTC().Format(time.RFC3339Nano)
		m["created_on"], m["modified_on"], m["proxiable"], m["meta"] = now, now, false, map[string]any{}
		out[i] = m
	}
	return out
}

func (f *Cloudflare) write(w http.ResponseWriter, r *http.Request, id string) {
	var rec CFRecord
	if err := json.NewDecoder(r.Body).Decode(&rec); err != nil {
		f.reply(w, http.StatusBadRequest, nil, nil, cfMessage{9207, "Request body is invalid: " + err.Error()})
		return
	}
	if rec.Type == "SRV" && (rec.Data == nil || rec.Data.Target == "" || rec.Content != "") {
		f.reply(w, http.StatusBadRequest, nil, nil, cfMessage{9101, "SRV records take a data object (priority, weight, port, target)"})
		return
	}
	if strings.HasSuffix(rec.Name, ".") || rec.Name == "" || rec.TTL < 1 {
		f.reply(w, http.StatusBadRequest, nil, nil, cfMessage{9005, "bad name or ttl"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == "" {
		f.Methods = append(f.Methods, http.MethodPost)
		f.seq++
		rec.ID = "rec" + strconv.Itoa(f.seq)
		f.recs = append(f.recs, rec)
		f.reply(w, http.StatusOK, withTimes([]CFRecord{rec})[0], nil)
		return
	}
	i := slices.IndexFunc(f.recs, func(x CFRecord) bool { return x.ID == id })
	if i < 0 {
		f.reply(w, http.StatusNotFound, nil, nil, cfMessage{81044, "Record does not exist."})
		return
	}
	f.Methods = append(f.Methods, http.MethodPut)
	rec.ID = id
	f.recs[i] = rec
	f.reply(w, http.StatusOK, withTimes([]CFRecord{rec})[0], nil)
}

func (f *Cloudflare) delete(w http.ResponseWriter, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.recs, func(x CFRecord) bool { return x.ID == id })
	if i < 0 {
		f.reply(w, http.StatusNotFound, nil, nil, cfMessage{81044, "Record does not exist."})
		return
	}
	f.Methods = append(f.Methods, http.MethodDelete)
	f.recs = slices.Delete(f.recs, i, i+1)
	f.reply(w, http.StatusOK, map[string]string{"id": id}, nil)
}
