package fakepeer

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// SelfSignedRSA is SelfSigned with a 2048-bit RSA key, usable with the RSA key exchange cipher suites
// (TLS_RSA_WITH_...) that old SIP phones and SBCs may be limited to, as with TLS 1.0 and 1.1.
func SelfSignedRSA(names ...string) (*tls.Config, error) {
	if len(names) == 0 {
		return nil, errors.New("fakepeer: a certificate needs a name")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	// Key encipherment: the RSA key exchange encrypts the premaster secret to this key.
	return selfSigned(key, &key.PublicKey, x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment, names)
}
