package srvhealth

import (
	"strings"
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

// TestDrainLogged: a drain is logged when it starts and when its line is gone (issue 24 item 10: removing a
// drain logged nothing), not again by a reload that keeps it; a drain outside the zones is warned about.
func TestDrainLogged(t *testing.T) {
	kept, removed := Drain{Target: "kept.log.test."}, Drain{Target: "removed.log.test.", Port: 5061}
	old, updated := []Drain{kept, removed}, []Drain{kept}
	out := captureLog(func() { applyDrains(old) })
	if strings.Count(out, "drained by configuration") != 2 {
		t.Errorf("start: %q", out)
	}
	out = captureLog(func() {
		applyDrains(updated) // the reload's new instance starts first,
		releaseDrains(old)   // then the old one stops
	})
	if strings.Contains(out, "target kept.log.test. drained") || strings.Contains(out, "kept.log.test. no longer") {
		t.Errorf("a kept drain logged again by the reload: %q", out)
	}
	if !strings.Contains(out, "target removed.log.test.:5061 no longer drained") {
		t.Errorf("the removed drain was not logged as ended: %q", out)
	}
	captureLog(func() { releaseDrains(updated) })

	out = captureLog(func() {
		warnDrains([]string{"example.com."}, []Drain{{Target: "sip1.example.com."}, {Target: "sip1.exmaple.com."}})
	})
	if !strings.Contains(out, "drain sip1.exmaple.com") || strings.Contains(out, "drain sip1.example.com") {
		t.Errorf("warnings: %q", out)
	}
}
