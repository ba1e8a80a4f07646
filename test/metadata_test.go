package test

import (
	"bytes"
	"io"
	golog "log"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestMetadataInLog checks that srvhealth/dropped and srvhealth/policy reach a log line.
func TestMetadataInLog(t *testing.T) {
	live := TCPPeer(t, false)
	zone := WriteFile(t, "db", liveDeadZone("example.com", live, ClosedPort(t)))
	var buf syncBuffer
	golog.SetOutput(&buf)
	defer golog.SetOutput(io.Discard)
	s := CoreDNS(t, `example.com:0 {
		metadata
		log . "{name} dropped={/srvhealth/dropped} policy={/srvhealth/policy}"
		srvhealth {
			probe _sip._tcp tcp
			interval 100ms
			timeout 50ms
			fails 1
		}
		file `+zone+`
	}`)
	if !Eventually(10*time.Second, func() bool {
		Exchange(t, "udp", s.UDP, "_sip._tcp.example.com.", dns.TypeSRV)
		return strings.Contains(buf.String(), "_sip._tcp.example.com. dropped=1 policy=")
	}) {
		t.Fatalf("no log line with dropped=1; log:\n%s", buf.String())
	}
}

// syncBuffer is a bytes.Buffer the log plugin's goroutines can write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
