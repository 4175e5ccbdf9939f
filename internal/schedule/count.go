package schedule

import "time"

// tickCounter counts and picks a spec's ticks in a span without walking
// each of them, so that catching up after a long outage is cheap.
type tickCounter interface {
	// countBetween counts the ticks strictly between after and before.
	countBetween(after, before time.Time) int
	// newestBefore lists the newest n ticks strictly between after and
	// before, oldest first.
	newestBefore(after, before time.Time, n int) []time.Time
}

func counterOf(spec Spec) tickCounter {
	if c, ok := spec.(tickCounter); ok {
		return c
	}
	return walkedCounter{spec}
}

// walkLimit bounds how many ticks of a Spec that cannot count are followed.
const walkLimit = 1_000_000

// walkedCounter counts the ticks of any Spec by following Next.
type walkedCounter struct{ spec Spec }

func (w walkedCounter) countBetween(after, before time.Time) int {
	return countByNext(w.spec, after, before, walkLimit)
}

func (w walkedCounter) newestBefore(after, before time.Time, n int) []time.Time {
	return newestByNext(w.spec, after, before, n, walkLimit)
}

// countByNext counts the ticks strictly between after and before, following
// at most limit of them.
func countByNext(spec Spec, after, before time.Time, limit int) int {
	n := 0
	for t := spec.Next(after); n < limit && !t.IsZero() && t.Before(before); t = spec.Next(t) {
		n++
	}
	return n
}

// newestByNext keeps the newest n of the ticks strictly between after and
// before in a ring, following at most limit of them.
func newestByNext(spec Spec, after, before time.Time, n, limit int) []time.Time {
	if n <= 0 {
		return nil
	}
	ring := make([]time.Time, 0, n)
	seen := 0
	for t := spec.Next(after); seen < limit && !t.IsZero() && t.Before(before); t = spec.Next(t) {
		if len(ring) < n {
			ring = append(ring, t)
		} else {
			ring[seen%n] = t
		}
		seen++
	}
	if len(ring) < n {
		return ring
	}
	start := seen % n
	return append(ring[start:len(ring):len(ring)], ring[:start]...)
}
