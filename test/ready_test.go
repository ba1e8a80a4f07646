package test

import (
	"net/http"
	"testing"
	"time"
)

// TestReadyAfterWarmUp checks that ready answers 503 while the warm names' first probe round runs and 200
// after it, although the probed server never answers (readiness must not depend on the SIP servers).
func TestReadyAfterWarmUp(t *testing.T) {
	hung := TCPPeer(t, true)
	zone := WriteFile(t, "db", liveDeadZone("example.com", hung, hung))
	ready := "127.0.0.1:" + FreePort(t)
	start := time.Now()
	CoreDNS(t, `example.com:0 {
		ready `+ready+`
		srvhealth {
			interval 3s
			timeout 1500ms
			warm _sip._tcp.example.com
		}
		file `+zone+`
	}`)
	// The SIP probe of a hung server takes the whole timeout, so for about 1.5 s the round is not done.
	code, _ := HTTPGet(t, "http://"+ready+"/ready")
	if elapsed := time.Since(start); code != http.StatusServiceUnavailable && elapsed < time.Second {
		t.Errorf("ready answered %d %v after start, before the warm-up round could finish; want 503", code, elapsed)
	}
	if !Eventually(10*time.Second, func() bool {
		code, _ = HTTPGet(t, "http://"+ready+"/ready")
		return code == http.StatusOK
	}) {
		t.Fatalf("ready still %d after the warm-up round", code)
	}
}
