package fakepeer

import (
	"crypto/rsa"
	"crypto/x509"
	"testing"
)

func TestSelfSignedRSA(t *testing.T) {
	cfg, err := SelfSignedRSA("voip.test")
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Certificates[0]
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.PrivateKey.(*rsa.PrivateKey); !ok || leaf.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		t.Errorf("key %T, usage %v: want RSA with key encipherment", c.PrivateKey, leaf.KeyUsage)
	}
	if err := leaf.VerifyHostname("voip.test"); err != nil {
		t.Error(err)
	}
	if _, err := SelfSignedRSA(); err == nil {
		t.Error("no error without a name")
	}
}
