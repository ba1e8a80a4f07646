package fakepeer

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestSelfSigned(t *testing.T) {
	cfg, err := SelfSigned("voip.test", "*.scale.test")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"voip.test", "h1.scale.test"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if now := time.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		t.Errorf("valid %v to %v, not now", leaf.NotBefore, leaf.NotAfter)
	}
	if _, err := SelfSigned(); err == nil {
		t.Error("a certificate without a name")
	}
}
