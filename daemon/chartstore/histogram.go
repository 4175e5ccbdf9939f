package chartstore

import (
	"math"
	"time"
)

// A histogram counts durations in log-spaced buckets, so that a bucket of
// a chart holds any number of jobs in a fixed space and still yields its
// percentiles. Bucket 0 holds what took under histFloor; bucket i (from
// 1) holds [histFloor·√2^(i-1), histFloor·√2^i); the last holds all
// above, from ≈ 24 days on. A percentile read from it is within one
// bucket, a factor of √2, of the true one, and interpolated inside it.
const (
	histBuckets = 64
	histFloor   = time.Millisecond
)

type histogram [histBuckets]uint32

// histIndex is the bucket of d.
func histIndex(d time.Duration) int {
	if d < histFloor {
		return 0
	}
	i := 1 + int(math.Floor(2*math.Log2(float64(d)/float64(histFloor))))
	return min(max(i, 1), histBuckets-1)
}

// histLower is where bucket i starts.
func histLower(i int) time.Duration {
	if i == 0 {
		return 0
	}
	return time.Duration(float64(histFloor) * math.Pow(math.Sqrt2, float64(i-1)))
}

func (h *histogram) add(d time.Duration) {
	if i := histIndex(d); h[i] < math.MaxUint32 {
		h[i]++
	}
}

func (h *histogram) merge(o *histogram) {
	for i, n := range o {
		h[i] = uint32(min(uint64(h[i])+uint64(n), math.MaxUint32))
	}
}

func (h *histogram) total() uint64 {
	var n uint64
	for _, c := range h {
		n += uint64(c)
	}
	return n
}

// quantile estimates the q-quantile (0 < q ≤ 1): it finds the bucket of
// the sample of that rank and places it inside the bucket as far as its
// rank is among the bucket's samples, on the log scale the buckets have.
// An empty histogram has none (0, false).
func (h *histogram) quantile(q float64) (time.Duration, bool) {
	n := h.total()
	if n == 0 {
		return 0, false
	}
	rank := max(math.Ceil(q*float64(n)), 1)
	var seen float64
	for i, c := range h {
		if c == 0 {
			continue
		}
		if seen+float64(c) < rank {
			seen += float64(c)
			continue
		}
		frac := (rank - seen) / float64(c)
		switch i {
		case 0:
			return time.Duration(frac * float64(histFloor)), true
		case histBuckets - 1:
			return histLower(i), true // no upper bound to place it against
		}
		lo := float64(histLower(i))
		return time.Duration(lo * math.Pow(math.Sqrt2, frac)), true
	}
	return histLower(histBuckets - 1), true
}
