package zonesync

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Syncer brings a provider to the desired RRsets. It remembers what it last read or wrote, so a stable
// desired state costs nothing at the provider, and a change made there by someone else is noticed at the
// next write (the provider's prerequisite or re-read), logged, and overwritten: the desired file wins.
// A Syncer is used by one goroutine at a time.
type Syncer struct {
	Provider Provider
	// DryRun prints the changes to Plan instead of making them.
	DryRun bool
	Plan   io.Writer
	// Logf writes a log line: one per change made, with the records before and after, and one per
	// conflict.
	Logf func(format string, args ...any)
	// Result counts one Apply by its result: ok, conflict, error (metrics).
	Result func(result string)

	known map[string]RRset // nil: read the provider before the next plan
}

// conflictRetries bounds the re-read-and-apply rounds of one Sync in which someone else keeps changing
// the RRsets.
const conflictRetries = 3

// Sync makes the provider hold desired, and returns the changes made (or, dry, that would be). An error
// leaves the Syncer to read the provider afresh next time.
func (s *Syncer) Sync(ctx context.Context, desired []RRset) ([]Change, error) {
	var made []Change
	for attempt := 0; ; attempt++ {
		if s.known == nil {
			cur, err := s.Provider.Records(ctx)
			if err != nil {
				return made, fmt.Errorf("%s: reading the records: %w", s.Provider.Name(), err)
			}
			s.known = cur
		}
		changes := Plan(desired, s.known)
		if len(changes) == 0 {
			return made, nil
		}
		if s.DryRun {
			for _, c := range changes {
				fmt.Fprintf(s.Plan, "would change %s\n", c)
				s.known[c.After.Name] = c.After // print each change once, not every round
			}
			return changes, nil
		}
		// One change at a time: each RRset is written (and its conflict noticed) on its own, and every
		// change made is logged even when another one fails.
		conflicts := 0
		for _, c := range changes {
			err := s.Provider.Apply(ctx, []Change{c})
			var conflict *ConflictError
			switch {
			case err == nil:
				s.count("ok")
				s.known[c.After.Name] = c.After
				s.logf("%s: changed %s", s.Provider.Name(), c)
				made = append(made, c)
			case errors.As(err, &conflict):
				s.count("conflict")
				s.logf("%s: %v; reading it again, the desired records win", s.Provider.Name(), err)
				conflicts++
			default:
				s.count("error")
				s.known = nil
				return made, fmt.Errorf("%s: %w", s.Provider.Name(), err)
			}
		}
		if conflicts == 0 {
			return made, nil
		}
		s.known = nil
		if attempt >= conflictRetries {
			return made, fmt.Errorf("%s: the records kept changing under us %d times in a row", s.Provider.Name(), attempt+1)
		}
	}
}

// Forget makes the next Sync read the provider first.
func (s *Syncer) Forget() { s.known = nil }

func (s *Syncer) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

func (s *Syncer) count(result string) {
	if s.Result != nil {
		s.Result(result)
	}
}
