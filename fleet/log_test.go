package fleet

import (
	"testing"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"go.uber.org/goleak"
)

func init() { clog.Discard() }

// TestMain fails the package when a test leaves a goroutine behind: a member that left its fleet, and the
// Monitors it fed, stop everything they started. memberlist's Shutdown does not wait for a probe of a
// peer it has in flight: that goroutine waits for the ack or its timer, at most one probe interval, and
// then ends on its own, so it is not counted.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}
