package lint

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net/url"
	"testing"
	"time"
)

// otherName is a subjectAltName otherName (RFC 5280 section 4.2.1.6): [0] { type-id, [0] EXPLICIT value }.
func otherName(t *testing.T, oid asn1.ObjectIdentifier, tag int, value string) asn1.RawValue {
	t.Helper()
	inner, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(value)})
	if err != nil {
		t.Fatal(err)
	}
	typeID, err := asn1.Marshal(oid)
	if err != nil {
		t.Fatal(err)
	}
	explicit, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner})
	if err != nil {
		t.Fatal(err)
	}
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: append(typeID, explicit...)}
}

// selfSigned makes a self-signed server certificate with the given subject alternative names.
func selfSigned(t *testing.T, cn string, dnsNames []string, uris []string, others []asn1.RawValue) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, DNSNames: dnsNames}
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	if len(others) > 0 {
		// The whole extension by hand: x509 cannot write otherName.
		var names []asn1.RawValue
		for _, d := range dnsNames {
			names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(d)})
		}
		names = append(names, others...)
		der, err := asn1.Marshal(names)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.DNSNames = nil
		tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: der}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cert-name accepts the identities the protocols define, not only a DNS name: a SIP URI SAN naming the
// domain (RFC 5922 section 7.1), the XMPP SRV-ID and XmppAddr (RFC 6120 section 13.7.1.2, RFC 4985), and
// the common name of a certificate without any subjectAltName (RFC 5922 section 7.1, RFC 6125 section
// 6.4.4). An identity of the other protocol, or a SIP URI with a user part, is not the domain's. Issue 24
// item 14.
func TestCertNameIdentities(t *testing.T) {
	xmppAddr := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 5}
	srvName := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 7}
	const sips, c2s, s2s = "_sips._tcp.example.com.", "_xmpp-client._tcp.example.com.", "_xmpp-server._tcp.example.com."
	for _, tc := range []struct {
		name  string
		owner string
		leaf  func() *x509.Certificate
		fire  bool
	}{
		{"SIP URI of the domain", sips, func() *x509.Certificate {
			return selfSigned(t, "sip1.example.com", []string{"sip1.example.com"}, []string{"sip:example.com"}, nil)
		}, false},
		{"SIP URI with a user", sips, func() *x509.Certificate {
			return selfSigned(t, "sip1.example.com", []string{"sip1.example.com"}, []string{"sip:alice@example.com"}, nil)
		}, true},
		{"SIP URI of the domain, for XMPP", c2s, func() *x509.Certificate {
			return selfSigned(t, "xmpp1.example.com", []string{"xmpp1.example.com"}, []string{"sip:example.com"}, nil)
		}, true},
		{"XmppAddr of the domain", c2s, func() *x509.Certificate {
			return selfSigned(t, "xmpp1.example.com", []string{"xmpp1.example.com"}, nil, []asn1.RawValue{otherName(t, xmppAddr, asn1.TagUTF8String, "example.com")})
		}, false},
		{"SRV-ID of the client service", c2s, func() *x509.Certificate {
			return selfSigned(t, "xmpp1.example.com", []string{"xmpp1.example.com"}, nil, []asn1.RawValue{otherName(t, srvName, asn1.TagIA5String, "_xmpp-client.example.com")})
		}, false},
		{"SRV-ID of the client service, for s2s", s2s, func() *x509.Certificate {
			return selfSigned(t, "xmpp1.example.com", []string{"xmpp1.example.com"}, nil, []asn1.RawValue{otherName(t, srvName, asn1.TagIA5String, "_xmpp-client.example.com")})
		}, true},
		{"XmppAddr of another domain", c2s, func() *x509.Certificate {
			return selfSigned(t, "xmpp1.example.com", []string{"xmpp1.example.com"}, nil, []asn1.RawValue{otherName(t, xmppAddr, asn1.TagUTF8String, "example.net")})
		}, true},
		{"common name only, no SAN", sips, func() *x509.Certificate {
			return selfSigned(t, "example.com", nil, nil, nil)
		}, false},
		{"common name beside other SANs", sips, func() *x509.Certificate {
			return selfSigned(t, "example.com", []string{"sip1.example.com"}, nil, nil)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf := tc.leaf()
			roots := x509.NewCertPool()
			roots.AddCert(leaf)
			fs := CheckCertificate(Certificate{Name: tc.owner, Target: "host.example.com.", Address: "192.0.2.1:5061", Domain: "example.com",
				Chain: []*x509.Certificate{leaf}}, roots, time.Now(), CertDays*24*time.Hour)
			fired := false
			for _, f := range fs {
				if f.Code == CodeCertName {
					fired = true
				} else {
					t.Errorf("unexpected %s", f)
				}
			}
			if fired != tc.fire {
				t.Errorf("cert-name %v, want %v: %v", fired, tc.fire, fs)
			}
		})
	}
}
