package probe

import (
	"context"
	"testing"
	"time"
)

// The fake servers the tests probe are internal/fakepeer's: on 127.0.0.1, closed when the test ends.

// probeCtx bounds a probe the way the monitor does.
func probeCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustNew(t *testing.T, m Method, opts Options) Prober {
	t.Helper()
	p, err := New(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
