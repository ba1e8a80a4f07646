package testpeer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CertSpec describes a server certificate to issue.
type CertSpec struct {
	// Names are the DNS names (or IP addresses) of the certificate; the first is also its CommonName.
	Names []string
	// NotBefore and NotAfter default to an hour ago and thirty days from now.
	NotBefore, NotAfter time.Time
	// Dir is where the PEM files go; the default is a new t.TempDir().
	Dir string
}

// Cert is a server certificate issued by a fresh test CA, as Go values and as PEM files.
type Cert struct {
	CertFile string // leaf certificate followed by the CA certificate, PEM
	KeyFile  string // the leaf's key, PKCS #8 PEM
	Leaf     *x509.Certificate
	// Pool holds the CA only: verifying against it succeeds for the names and validity of the leaf.
	Pool *x509.CertPool
	// TLS is the chain and key for a Go tls.Config.
	TLS tls.Certificate
}

// NewCert issues a certificate for spec from a new CA. The files are named after the first name
// (voip.test.crt, voip.test.key), the convention Prosody looks for in its certificates directory.
func NewCert(t testing.TB, spec CertSpec) *Cert {
	t.Helper()
	if len(spec.Names) == 0 {
		t.Fatal("testpeer: NewCert needs a name")
	}
	now := time.Now()
	if spec.NotBefore.IsZero() {
		spec.NotBefore = now.Add(-time.Hour)
	}
	if spec.NotAfter.IsZero() {
		spec.NotAfter = now.Add(30 * 24 * time.Hour)
	}
	if spec.Dir == "" {
		spec.Dir = t.TempDir()
	}

	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "srvhealth test CA"},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}

	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: spec.Names[0]},
		NotBefore:    spec.NotBefore,
		NotAfter:     spec.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, n := range spec.Names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}

	c := &Cert{
		CertFile: filepath.Join(spec.Dir, spec.Names[0]+".crt"),
		KeyFile:  filepath.Join(spec.Dir, spec.Names[0]+".key"),
		Leaf:     leaf,
		Pool:     x509.NewCertPool(),
		TLS:      tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key, Leaf: leaf},
	}
	c.Pool.AddCert(ca)
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	writeFile(t, c.CertFile, chain, 0o644)
	writeFile(t, c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return c
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writeFile(t testing.TB, name string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, data, mode); err != nil {
		t.Fatal(err)
	}
}
