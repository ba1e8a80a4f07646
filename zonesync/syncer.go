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

	known map[string]RRset // by name, what the provider held when last read or written; nil: never read
	stale bool             // read the provider before the next plan
	tried map[string]RRset // by name, the writes that failed since the last read: they may have been made
}

// conflictRetries bounds the re-read-and-apply rounds of one Sync in which someone else keeps changing
// the RRsets.
const conflictRetries = 3

// Sync makes the provider hold desired, and returns the changes made (or, dry, that would be). An error
// leaves the Syncer to read the provider afresh next time, and to log what someone else changed
// meanwhile.
func (s *Syncer) Sync(ctx context.Context, desired []RRset) ([]Change, error) {
	var made []Change
	reported := map[string]bool{} // conflicts the provider reported in this Sync
	for attempt := 0; ; attempt++ {
		if s.known == nil || s.stale {
			cur, err := s.Provider.Records(ctx)
			if err != nil {
				s.stale = true
				return made, fmt.Errorf("%s: reading the records: %w", s.Provider.Name(), err)
			}
			if s.known != nil && !s.DryRun {
				s.noticeChanges(desired, cur, reported)
			}
			s.known, s.stale, s.tried = cur, false, nil
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
				reported[c.After.Name] = true
				conflicts++
			default:
				s.count("error")
				s.stale = true
				if s.tried == nil {
					s.tried = map[string]RRset{}
				}
				s.tried[c.After.Name] = c.After
				return made, fmt.Errorf("%s: %w", s.Provider.Name(), err)
			}
		}
		if conflicts == 0 {
			return made, nil
		}
		s.stale = true
		if attempt >= conflictRetries {
			return made, fmt.Errorf("%s: the records kept changing under us %d times in a row", s.Provider.Name(), attempt+1)
		}
	}
}

// noticeChanges logs each desired RRset that cur holds other than it was last read or written, which only
// someone else can have done, unless it is a write of ours that failed on our side (a timeout) and was
// made all the same: a change noticed by a re-read after an error rather than by the provider's check.
// The conflicts the provider reported are logged already.
func (s *Syncer) noticeChanges(desired []RRset, cur map[string]RRset, reported map[string]bool) {
	for _, d := range desired {
		name := d.Normalize().Name
		was, now := s.known[name], cur[name]
		was.Name, now.Name = name, name
		if reported[name] || now.Equal(was) {
			continue
		}
		if t, ok := s.tried[name]; ok && now.Equal(t) {
			continue
		}
		s.logf("%s: %s SRV was changed by someone else (it held %s when last read or written, it holds %s now); the desired records win",
			s.Provider.Name(), name, was, now)
	}
}

// Forget makes the next Sync read the provider first.
func (s *Syncer) Forget() { s.stale = true }

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
