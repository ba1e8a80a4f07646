package srvhealth

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/miekg/dns"
)

func srvs(weights ...uint16) []*dns.SRV {
	out := make([]*dns.SRV, len(weights))
	for i, w := range weights {
		out[i] = &dns.SRV{Priority: 10, Weight: w, Port: uint16(i)}
	}
	return out
}

// firstShares orders n fresh copies of the weights with a fixed seed and returns, for each record (by its
// index), the share of orderings in which it came first.
func firstShares(n int, weights ...uint16) []float64 {
	intn := rand.New(rand.NewPCG(20261125, 2782)).IntN
	counts := make([]int, len(weights))
	for range n {
		s := srvs(weights...)
		order(s, intn)
		counts[s[0].Port]++
	}
	shares := make([]float64, len(weights))
	for i, c := range counts {
		shares[i] = float64(c) / float64(n)
	}
	return shares
}

func TestOrderWeighted7030(t *testing.T) {
	// RFC 2782: with running sums 0..100 and r uniform in [0, 100], the 70 record is first with
	// probability 71/101 when it sits after the 30 one and 70/101 otherwise; the uniform pre-shuffle makes
	// it 70.5/101 = 0.698. 20,000 samples give a standard deviation of 0.0032; ±2% is six of them.
	p := firstShares(20000, 70, 30)
	if math.Abs(p[0]-0.70) > 0.02 {
		t.Errorf("weight-70 record first in %.4f of orderings, want 0.70 ± 0.02", p[0])
	}
}

func TestOrderAllZeroIsUniform(t *testing.T) {
	p := firstShares(20000, 0, 0, 0)
	for i, s := range p {
		if math.Abs(s-1.0/3) > 0.02 {
			t.Errorf("record %d first in %.4f of orderings, want 1/3 ± 0.02", i, s)
		}
	}
}

func TestOrderWeightZeroRarelyFirst(t *testing.T) {
	// Weights 60/20/20/0: RFC 2782 gives the weight-0 record P(first) = 1/101 ≈ 0.0099. Go's resolver
	// gives it 0; we implement the RFC. 20,000 samples: standard deviation 0.0007.
	p := firstShares(20000, 60, 20, 20, 0)
	if p[3] == 0 || math.Abs(p[3]-1.0/101) > 0.004 {
		t.Errorf("weight-0 record first in %.4f of orderings, want 1/101 ± 0.004 (rare but not never)", p[3])
	}
	if math.Abs(p[0]-60.0/101) > 0.02 {
		t.Errorf("weight-60 record first in %.4f of orderings, want 60/101 ± 0.02", p[0])
	}
}

func TestOrderPriorityAscending(t *testing.T) {
	intn := rand.New(rand.NewPCG(1, 1)).IntN
	s := []*dns.SRV{{Priority: 30}, {Priority: 10, Weight: 5}, {Priority: 20}, {Priority: 10}, {Priority: 0}}
	for range 100 {
		order(s, intn)
		for i := 1; i < len(s); i++ {
			if s[i-1].Priority > s[i].Priority {
				t.Fatalf("priorities not ascending: %v", s)
			}
		}
	}
}

func TestOrderKeepsEveryRecord(t *testing.T) {
	intn := rand.New(rand.NewPCG(3, 4)).IntN
	s := srvs(5, 0, 9, 0, 100, 1)
	order(s, intn)
	seen := map[uint16]bool{}
	for _, r := range s {
		seen[r.Port] = true
	}
	if len(seen) != 6 {
		t.Fatalf("order lost or duplicated records: %v", s)
	}
}
