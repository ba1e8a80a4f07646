package health

import (
	"testing"
	"time"
)

// benchMonitor returns a Monitor holding n targets, not started: the benchmarks measure the query path
// alone.
func benchMonitor(b *testing.B, n int) (*Monitor, []Key) {
	b.Helper()
	cfg := testConfig()
	cfg.Interval = time.Hour
	cfg.MaxTargets = n
	m := New(cfg, newResolver(), factory(newProber()), nil)
	b.Cleanup(m.Stop)
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = key(targetName(i))
		m.Observe(keys[i], "example.com")
	}
	return m, keys
}

func BenchmarkLookup(b *testing.B) {
	m, keys := benchMonitor(b, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := m.Lookup(keys[i%len(keys)]); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkObserveKnown(b *testing.B) {
	m, keys := benchMonitor(b, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.Observe(keys[i%len(keys)], "example.com")
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	m, keys := benchMonitor(b, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			m.Lookup(keys[i%len(keys)])
		}
	})
}

func BenchmarkObserveKnownParallel(b *testing.B) {
	m, keys := benchMonitor(b, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			m.Observe(keys[i%len(keys)], "example.com")
		}
	})
}
