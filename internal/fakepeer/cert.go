package fakepeer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"time"
)

// SelfSigned returns a TLS configuration with a throwaway self-signed certificate for names (DNS names,
// wildcards allowed), valid from an hour ago for thirty days. Probes accept it unless they verify
// certificates; a test of verification needs a CA (internal/testpeer.NewCert).
func SelfSigned(names ...string) (*tls.Config, error) {
	if len(names) == 0 {
		return nil, errors.New("fakepeer: a certificate needs a name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return selfSigned(key, &key.PublicKey, x509.KeyUsageDigitalSignature, names)
}

// selfSigned returns a TLS configuration with a certificate for names signed by key itself, valid from an
// hour ago for thirty days, for usage.
func selfSigned(key crypto.Signer, pub any, usage x509.KeyUsage, names []string) (*tls.Config, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     usage,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, nil
}
