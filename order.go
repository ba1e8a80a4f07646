package srvhealth

import (
	"slices"

	"github.com/miekg/dns"
)

// order sorts srvs by ascending priority and, within each priority, into the RFC 2782 weighted random
// order ("Usage rules"): with running sums over the weights, where weight-0 records are placed first so
// they keep a small chance (1/(sum+1) each) of being chosen while others have weight.
//
// When every weight at a priority is 0, RFC 2782 would give the list order; Go's resolver, PJSIP and
// Kamailio take the answer order as is, so there a uniform shuffle is the only load balancing those clients
// get, and order does exactly that. intn must return a uniform integer in [0, n). srvs is sorted in place.
func order(srvs []*dns.SRV, intn func(n int) int) {
	slices.SortStableFunc(srvs, func(a, b *dns.SRV) int { return int(a.Priority) - int(b.Priority) })
	for start := 0; start < len(srvs); {
		end := start + 1
		for end < len(srvs) && srvs[end].Priority == srvs[start].Priority {
			end++
		}
		weightedShuffle(srvs[start:end], intn)
		start = end
	}
}

// weightedShuffle puts one priority's records into RFC 2782 weighted random order.
func weightedShuffle(srvs []*dns.SRV, intn func(n int) int) {
	if len(srvs) < 2 {
		return
	}
	// A uniform shuffle first, so that records of equal weight have no order of their own, then weight-0
	// records moved to the front as RFC 2782 asks.
	for i := len(srvs) - 1; i > 0; i-- {
		j := intn(i + 1)
		srvs[i], srvs[j] = srvs[j], srvs[i]
	}
	zero := 0
	total := 0
	for i, s := range srvs {
		total += int(s.Weight)
		if s.Weight == 0 {
			srvs[zero], srvs[i] = srvs[i], srvs[zero]
			zero++
		}
	}
	for i := 0; i < len(srvs)-1; i++ {
		if total == 0 {
			return // only weight-0 records left, already uniformly shuffled
		}
		// "select a uniform random number between 0 and the sum computed (inclusive)", then the first
		// record whose running sum is greater than or equal to it.
		r := intn(total + 1)
		sum := 0
		pick := i
		for j := i; j < len(srvs); j++ {
			sum += int(srvs[j].Weight)
			if sum >= r {
				pick = j
				break
			}
		}
		total -= int(srvs[pick].Weight)
		// Keep the unordered rest in its order (weight-0 records first) while moving pick to position i.
		p := srvs[pick]
		copy(srvs[i+1:pick+1], srvs[i:pick])
		srvs[i] = p
	}
}
