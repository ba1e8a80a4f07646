//go:build race

package srvhealth

// raceEnabled: the race detector is on. Under it sync.Pool drops a quarter of what is put back, so a
// pooled writer is allocated anew now and then (see TestInterceptedAllocations).
const raceEnabled = true
