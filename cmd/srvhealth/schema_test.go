package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/srvhealth/srvhealth/lint"
)

// The JSON report is checked against schema.json, the schema it documents, by the small validator
// below: the subset of JSON Schema that schema.json uses, and nothing else (a keyword it does not know
// fails the test rather than being ignored).

type validator struct {
	root    map[string]any
	visited map[string]bool // schema paths of properties seen with a value
}

var knownKeywords = map[string]bool{
	"$schema": true, "$id": true, "title": true, "description": true, "type": true, "additionalProperties": true,
	"required": true, "properties": true, "items": true, "enum": true, "minimum": true, "maximum": true,
	"pattern": true, "$ref": true, "$defs": true, "format": true,
}

func loadSchema(t *testing.T) *validator {
	t.Helper()
	b, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	return &validator{root: root, visited: map[string]bool{}}
}

// resolve follows a "#/$defs/name" reference.
func (v *validator) resolve(s map[string]any) (map[string]any, string) {
	ref, ok := s["$ref"].(string)
	if !ok {
		return s, ""
	}
	name := strings.TrimPrefix(ref, "#/$defs/")
	return v.root["$defs"].(map[string]any)[name].(map[string]any), name
}

// validate checks value against schema s at path (for messages) and spath (the schema path, for
// coverage), and returns what is wrong.
func (v *validator) validate(s map[string]any, value any, path, spath string) []string {
	s, def := v.resolve(s)
	if def != "" {
		spath = def
	}
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, a...)) }
	for k := range s {
		if !knownKeywords[k] {
			bad("schema keyword %q not supported by the test's validator", k)
		}
	}
	if typ, ok := s["type"].(string); ok {
		okType := false
		switch x := value.(type) {
		case map[string]any:
			okType = typ == "object"
		case []any:
			okType = typ == "array"
		case string:
			okType = typ == "string"
		case bool:
			okType = typ == "boolean"
		case float64:
			okType = typ == "number" || typ == "integer" && x == math.Trunc(x)
		}
		if !okType {
			bad("%v is not of type %s", value, typ)
			return errs
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, value) {
		bad("%v is not one of %v", value, enum)
	}
	if n, ok := value.(float64); ok {
		if m, ok := s["minimum"].(float64); ok && n < m {
			bad("%v below the minimum %v", n, m)
		}
		if m, ok := s["maximum"].(float64); ok && n > m {
			bad("%v above the maximum %v", n, m)
		}
	}
	if str, ok := value.(string); ok {
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			bad("%q does not match %s", str, p)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				bad("%q is not a date-time", str)
			}
		}
	}
	if obj, ok := value.(map[string]any); ok {
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := obj[r]; !ok {
				bad("required property %q missing", r)
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]any); ok {
				v.visited[spath+"."+k] = true
				errs = append(errs, v.validate(ps, obj[k], path+"."+k, spath+"."+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					bad("property %q is not in the schema", k)
				}
			case map[string]any:
				errs = append(errs, v.validate(ap, obj[k], path+"."+k, spath+".*")...)
			}
		}
	}
	if arr, ok := value.([]any); ok {
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range arr {
				errs = append(errs, v.validate(items, x, fmt.Sprintf("%s[%d]", path, i), spath+"[]")...)
			}
		}
	}
	return errs
}

func asStrings(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, x := range a {
			out = append(out, x.(string))
		}
	}
	return out
}

// properties lists every property path the schema defines, for the coverage check.
func (v *validator) properties() []string {
	var out []string
	var walk func(s map[string]any, spath string)
	walk = func(s map[string]any, spath string) {
		if props, ok := s["properties"].(map[string]any); ok {
			for k, p := range props {
				out = append(out, spath+"."+k)
				ps := p.(map[string]any)
				if _, ref := ps["$ref"]; !ref {
					walk(ps, spath+"."+k)
				}
				if items, ok := ps["items"].(map[string]any); ok {
					if _, ref := items["$ref"]; !ref {
						walk(items, spath+"."+k+"[]")
					}
				}
			}
		}
	}
	walk(v.root, "")
	for name, d := range v.root["$defs"].(map[string]any) {
		walk(d.(map[string]any), name)
	}
	sort.Strings(out)
	return out
}

// TestJSONSchema checks the reports of runs that between them produce every field against
// schema.json, and that every field the schema defines appears in one of them.
func TestJSONSchema(t *testing.T) {
	v := loadSchema(t)
	var reports [][]byte
	add := func(out string) { reports = append(reports, []byte(out)) }

	// A zone file.
	var zb strings.Builder
	code := run([]string{"check", "--json", "--zone", "../../testdata/example.com.db"}, &zb, &zb)
	if code != exitCritical {
		t.Fatalf("zone file: exit %d\n%s", code, zb.String())
	}
	add(zb.String())

	// Healthy, with a stale server and a --server that differs; a failing STARTTLS; an unresolvable
	// target; a dead server.
	e := newEnv(t)
	e.healthy(2)
	stale := e.zone(1, 3)
	e.service("_sip._udp", []string{"sip3"}, sipUDP("200 OK"))
	noCert := &tls.Config{} // no certificate: the handshake fails
	e.service("_xmpp-client._tcp", []string{"xmpp9"}, xmppStartTLS(startTLSRequired, noCert))
	e.add("_sip._tcp IN SRV 10 50 5060 alias", "alias IN CNAME sip1", "_sips._tcp IN SRV 10 50 5061 sip.example.net.")
	fresh := e.zone(2, 4)
	port := startNS(t, []nsMode{nsGood, nsGood, nsGood, nsSilent}, fresh, fresh, stale, fresh)
	given := startNS(t, nil, stale)
	_, out, _ := e.run(port, "voip.test", "--json", "--server", "127.0.60.1:"+fmt.Sprint(given))
	add(out)

	// A check that cannot run.
	_, out, _ = e.run(1, "voip.test", "--json")
	add(out)

	for i, b := range reports {
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("report %d: %v\n%s", i, err, b)
		}
		if errs := v.validate(v.root, doc, "report", ""); len(errs) > 0 {
			t.Errorf("report %d does not follow schema.json:\n  %s", i, strings.Join(errs, "\n  "))
		}
		// Every finding names a rule of lint.Rules.
		var r Report
		json.Unmarshal(b, &r)
		for _, c := range r.Checks {
			for _, f := range c.Findings {
				if rule, ok := lint.RuleFor(f.Code); !ok || rule.Severity != f.Severity {
					t.Errorf("finding %+v: no such rule, or another severity", f)
				}
			}
		}
	}
	for _, p := range v.properties() {
		if !v.visited[p] {
			t.Errorf("no report has %s: the schema defines a field the tests never see", p)
		}
	}
}
