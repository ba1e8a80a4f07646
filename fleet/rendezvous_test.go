package fleet

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func members(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("coredns-%d@10.0.0.%d:7946", i, i)
	}
	return out
}

// TestOwnersSameInAnyOrder: every member computes the same owners from the same members, whatever order
// it lists them in, and owns agrees with owners.
func TestOwnersSameInAnyOrder(t *testing.T) {
	ms := members(7)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 200 {
		key := fmt.Sprintf("sip%d.example.com. 5060 sip udp ", i)
		want := owners(ms, key, 2)
		if len(want) != 2 {
			t.Fatalf("owners %v, want 2", want)
		}
		shuffled := slices.Clone(ms)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if got := owners(shuffled, key, 2); !slices.Equal(got, want) {
			t.Fatalf("%s: owners %v in one order, %v in another", key, want, got)
		}
		for _, m := range ms {
			if owns(shuffled, m, key, 2) != slices.Contains(want, m) {
				t.Fatalf("%s: owns(%s) disagrees with owners %v", key, m, want)
			}
		}
	}
}

// TestOwnersMoveOnlyWithTheirMember: a member leaving moves only the keys it owned, to one new owner
// each; the other keys keep theirs.
func TestOwnersMoveOnlyWithTheirMember(t *testing.T) {
	ms := members(5)
	gone := ms[2]
	rest := slices.Delete(slices.Clone(ms), 2, 3)
	moved := 0
	for i := range 1000 {
		key := fmt.Sprintf("t%d.example.com. 5060 tcp  ", i)
		before, after := owners(ms, key, 2), owners(rest, key, 2)
		if !slices.Contains(before, gone) {
			if !slices.Equal(before, after) {
				t.Fatalf("%s: owners %v -> %v though %s did not own it", key, before, after, gone)
			}
			continue
		}
		moved++
		kept := slices.DeleteFunc(slices.Clone(before), func(s string) bool { return s == gone })
		if !slices.Contains(after, kept[0]) {
			t.Fatalf("%s: owners %v -> %v lost the owner that stayed", key, before, after)
		}
	}
	// Each member owns about 2/5 of the keys.
	if moved < 300 || moved > 500 {
		t.Errorf("%d of 1000 keys moved, want about 400", moved)
	}
}

// TestOwnersBalanced: each member owns about probers/members of the keys.
func TestOwnersBalanced(t *testing.T) {
	ms := members(5)
	count := map[string]int{}
	const keys = 5000
	for i := range keys {
		for _, o := range owners(ms, fmt.Sprintf("t%d.example.com. 5060 tcp  ", i), 2) {
			count[o]++
		}
	}
	for _, m := range ms {
		if n := count[m]; n < keys*2/5*8/10 || n > keys*2/5*12/10 {
			t.Errorf("%s owns %d of %d keys, want about %d", m, n, keys, keys*2/5)
		}
	}
}

// TestOwnsAlone: alone, a member owns everything; with fewer members than probers, all own everything.
func TestOwnsAlone(t *testing.T) {
	if !owns(nil, "me", "k", 2) || !owns([]string{"me"}, "me", "k", 2) || !owns([]string{"me", "you"}, "me", "k", 2) {
		t.Fatal("a member with fewer peers than probers does not own a key")
	}
}
