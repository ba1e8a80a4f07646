package fleet

import (
	"hash/fnv"
	"slices"

	"github.com/srvhealth/srvhealth/health"
)

// score is the rendezvous (highest-random-weight) weight of member for key: a hash of both, the same in
// every process, so every member that sees the same members picks the same owners without talking.
func score(member, key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(member))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return mix(h.Sum64())
}

// mix is splitmix64's finaliser: FNV-1a alone changes little in its high bits for a change at the end of
// its input, and the weights of one member for similar keys must look independent.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// above reports whether a, with weight sa, ranks above b, with weight sb: the higher weight, and the
// greater name on a tie, so the order is total.
func above(sa uint64, a string, sb uint64, b string) bool {
	if sa != sb {
		return sa > sb
	}
	return a > b
}

// owners returns the n members of members that rank highest for key, highest first. A member leaving
// moves only the keys it owned; one joining takes only the keys it now ranks in the top n for.
func owners(members []string, key string, n int) []string {
	type ranked struct {
		name string
		s    uint64
	}
	rs := make([]ranked, len(members))
	for i, m := range members {
		rs[i] = ranked{m, score(m, key)}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		switch {
		case above(a.s, a.name, b.s, b.name):
			return -1
		case above(b.s, b.name, a.s, a.name):
			return 1
		}
		return 0
	})
	out := make([]string, 0, min(n, len(rs)))
	for i := 0; i < len(rs) && i < n; i++ {
		out = append(out, rs[i].name)
	}
	return out
}

// owns reports whether self is one of the n owners of key among members (self counts whether listed or
// not), without allocating: fewer than n others rank above it.
func owns(members []string, self, key string, n int) bool {
	s := score(self, key)
	higher := 0
	for _, m := range members {
		if m == self {
			continue
		}
		if above(score(m, key), m, s, self) {
			higher++
			if higher >= n {
				return false
			}
		}
	}
	return true
}

// Owners returns the n owners of k among the members named, highest first: what every member whose view
// holds those members computes.
func Owners(members []string, k health.Key, n int) []string {
	return owners(members, health.KeyString(k), n)
}
