package lint

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// The same cases as the plugin's own doubled-origin test (monitor_test.go): the two must agree.
func TestDoubledOrigin(t *testing.T) {
	zones := []string{"example.com."}
	for name, want := range map[string]bool{
		"sip1.example.com.example.com.": true,
		"example.com.example.com.":      true,
		"sip1.example.com.":             false,
		"sip1.example.com.example.net.": false,
		"example.com.":                  false,
	} {
		if got := DoubledOrigin(name, zones); got != want {
			t.Errorf("DoubledOrigin(%q) = %v, want %v", name, got, want)
		}
	}
	if DoubledOrigin("a.b.", []string{"."}) {
		t.Error("the root zone counts as doubled")
	}
}

func TestSeverityText(t *testing.T) {
	b, err := json.Marshal(struct{ S []Severity }{[]Severity{Info, Warning, Error}})
	if err != nil || string(b) != `{"S":["info","warning","error"]}` {
		t.Fatalf("got %s, %v", b, err)
	}
	var back struct{ S []Severity }
	if err := json.Unmarshal(b, &back); err != nil || back.S[2] != Error {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if _, err := Severity(0).MarshalText(); err == nil {
		t.Error("marshalled severity 0")
	}
	var s Severity
	if err := s.UnmarshalText([]byte("fatal")); err == nil {
		t.Error("read severity fatal")
	}
}

func TestSortAndWorst(t *testing.T) {
	fs := []Finding{
		{Code: "b", Severity: Info, Name: "a."},
		{Code: "a", Severity: Error, Name: "z."},
		{Code: "c", Severity: Warning, Name: "a."},
		{Code: "d", Severity: Error, Name: "b."},
	}
	Sort(fs)
	var got []string
	for _, f := range fs {
		got = append(got, f.Code)
	}
	if strings.Join(got, "") != "dacb" {
		t.Errorf("order %v, want d a c b", got)
	}
	if Worst(fs) != Error || Worst(fs[2:]) != Warning || Worst(nil) != 0 {
		t.Errorf("Worst: %v %v %v", Worst(fs), Worst(fs[2:]), Worst(nil))
	}
}

func TestServiceOf(t *testing.T) {
	for name, want := range map[string]string{
		"_sip._udp.example.com.":           "_sip._udp.",
		"_SIP._TLS.example.com.":           "_sip._tls.",
		"_xmpps-server._tcp.example.com.":  "_xmpps-server._tcp.",
		"_jabber._tcp.example.com.":        "_jabber._tcp.",
		"_xmpp_client._tcp.example.com.":   "",
		"_ldap._tcp.example.com.":          "",
		"example.com.":                     "",
		"_sip._udp.":                       "_sip._udp.",
		"sip1._sip._udp.example.com.":      "",
		"_xmpp-client._tcp.a.example.com.": "_xmpp-client._tcp.",
	} {
		s, ok := ServiceOf(name)
		if ok != (want != "") || s.Label != want {
			t.Errorf("ServiceOf(%q) = %q, %v; want %q", name, s.Label, ok, want)
		}
	}
	if n := len(Services()); n != 9 {
		t.Errorf("%d services, want the 8 the plugin knows and _jabber._tcp", n)
	}
}

func TestParseZone(t *testing.T) {
	const text = `; no $ORIGIN: the caller names the zone
$TTL 600
@ IN SOA ns1 hostmaster (
        1     ; serial
        7200 3600 1209600 300 )
_sip._udp  IN SRV 10 0 5060 sip1
           IN SRV 20 0 5060 sip2
$ORIGIN sub.example.com.
_sip._tcp 60 IN SRV 10 0 5060 sip3.example.com.
$TTL 30
          IN SRV 10 0 5060 sip4
txt       IN TXT "a ; not a comment" ( "and more" )
`
	z, err := ParseZone(strings.NewReader(text), "example.com", "db")
	if err != nil {
		t.Fatal(err)
	}
	if len(z.Problems) != 0 {
		t.Fatalf("problems: %v", z.Problems)
	}
	want := []struct {
		line    int
		rr      string
		written string
	}{
		{3, "example.com.\t600\tIN\tSOA\tns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300", ""},
		{6, "_sip._udp.example.com.\t600\tIN\tSRV\t10 0 5060 sip1.example.com.", "sip1"},
		{7, "_sip._udp.example.com.\t600\tIN\tSRV\t20 0 5060 sip2.example.com.", "sip2"},
		{9, "_sip._tcp.sub.example.com.\t60\tIN\tSRV\t10 0 5060 sip3.example.com.", "sip3.example.com."},
		{11, "_sip._tcp.sub.example.com.\t30\tIN\tSRV\t10 0 5060 sip4.sub.example.com.", "sip4"},
		{12, "txt.sub.example.com.\t30\tIN\tTXT\t\"a ; not a comment\" \"and more\"", ""},
	}
	if len(z.Records) != len(want) {
		for _, r := range z.Records {
			t.Logf("%d %s", r.Line, r.RR)
		}
		t.Fatalf("%d records, want %d", len(z.Records), len(want))
	}
	for i, w := range want {
		r := z.Records[i]
		if r.Line != w.line || r.RR.String() != w.rr || r.Written != w.written {
			t.Errorf("record %d: line %d %q written %q; want line %d %q written %q", i, r.Line, r.RR, r.Written, w.line, w.rr, w.written)
		}
	}
	if z.Origin != "example.com." {
		t.Errorf("origin %q", z.Origin)
	}
}

// Without $TTL, a record without a TTL takes the previous record's (RFC 1035 section 5.1).
func TestParseZoneTTLInheritance(t *testing.T) {
	z, err := ParseZone(strings.NewReader("$ORIGIN example.com.\na 120 IN A 192.0.2.1\nb IN A 192.0.2.2\n"), "", "db")
	if err != nil {
		t.Fatal(err)
	}
	if len(z.Records) != 2 || z.Records[1].Header().Ttl != 120 {
		t.Fatalf("records %v", z.Records)
	}
}

func TestParseZoneWithoutOrigin(t *testing.T) {
	if _, err := ParseZone(strings.NewReader("a IN A 192.0.2.1\n"), "", "db"); err == nil {
		t.Error("parsed a zone without knowing its origin")
	}
	z, err := ParseZone(strings.NewReader("$ORIGIN example.org.\na IN A 192.0.2.1\n"), "", "db")
	if err != nil || z.Origin != "example.org." {
		t.Errorf("origin from $ORIGIN: %v, %v", z, err)
	}
}

// A line that does not parse is reported with its line and the rest of the file is still read.
func TestParseZoneGoesOnAfterAnError(t *testing.T) {
	z, err := ParseZone(strings.NewReader("$ORIGIN example.com.\na IN A 300.1.1.1\nb IN A 192.0.2.2\n"), "", "db")
	if err != nil {
		t.Fatal(err)
	}
	if len(z.Problems) != 1 || z.Problems[0].Line != 2 || !strings.Contains(z.Problems[0].Message, "bad A") {
		t.Errorf("problems %v", z.Problems)
	}
	if len(z.Records) != 1 || z.Records[0].Header().Name != "b.example.com." {
		t.Errorf("records %v", z.Records)
	}
}

func TestMissingDot(t *testing.T) {
	for _, c := range []struct {
		written, origin string
		want            bool
	}{
		{"sip1.example.com", "example.com.", true},
		{"SIP1.Example.COM", "example.com.", true},
		{"example.com", "example.com.", true},
		{"sip.example.org", "voip.example.com.", true}, // .org is a public suffix: meant absolute
		{"sip1.example.net", "example.com.", true},
		{"sip.example.com", "voip.example.com.", true},
		{"sip1", "example.com.", false},
		{"sip1.dc1", "example.com.", false},
		{"sip1.example.com.", "example.com.", false},
		{"@", "example.com.", false},
		{"sip1.example.com", ".", false},
	} {
		if got := missingDot(c.written, c.origin); got != c.want {
			t.Errorf("missingDot(%q, %q) = %v, want %v", c.written, c.origin, got, c.want)
		}
	}
}

// The network-side rules key records without their TTL and in lower case.
func TestRecordKey(t *testing.T) {
	a, _ := dns.NewRR("_SIP._udp.Example.com. 300 IN SRV 10 0 5060 SIP1.example.com.")
	b, _ := dns.NewRR("_sip._udp.example.com. 60 IN SRV 10 0 5060 sip1.example.com.")
	if RecordKey(a) != RecordKey(b) || RecordKey(a) != "_sip._udp.example.com. IN SRV 10 0 5060 sip1.example.com." {
		t.Errorf("keys %q and %q", RecordKey(a), RecordKey(b))
	}
}
