//go:build !race

package srvhealth

// raceEnabled: the race detector is off.
const raceEnabled = false
