package srvhealth

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestDrainSeriesSurviveReload: the old instance of a reload stops after the new one started; a drain both
// have keeps its series, a drain only the old one had loses it.
func TestDrainSeriesSurviveReload(t *testing.T) {
	both, gone := Drain{Target: "both.drain.test."}, Drain{Target: "gone.drain.test.", Port: 5060}
	old, updated := []Drain{both, gone}, []Drain{both}
	applyDrains(old)
	applyDrains(updated)
	releaseDrains(old)
	if v := testutil.ToFloat64(drainedGauge.WithLabelValues("both.drain.test.", "0")); v != 1 {
		t.Errorf("drained{both} = %v after the reload, want 1", v)
	}
	if n := testutil.CollectAndCount(drainedGauge); n != 1 {
		t.Errorf("%d drained series after the reload, want only the one still drained", n)
	}
	releaseDrains(updated)
	if n := testutil.CollectAndCount(drainedGauge); n != 0 {
		t.Errorf("%d drained series after the last instance stopped, want 0", n)
	}
}
