package fleet

import (
	"testing"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"go.uber.org/goleak"
)

func init() { clog.Discard() }

// TestMain fails the package when a test leaves a goroutine behind: a member that left its fleet, and the
// Monitors it fed, stop everything they started.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
