package queuetest

import (
	"fmt"
	"slices"
	"time"

	"kiln/worker"
)

// CheckRate says whether job starts (or finishes) at times held to rate
// with burst: no span of them holds more than the burst and what the
// rate earns over the span (one more for the token in flight between
// hosts), and all of them took no longer than the rate asks, within
// slack (0.1 is 10 %). It returns the first breach it finds.
func CheckRate(times []time.Time, rate worker.Rate, burst int, slack float64) error {
	if len(times) < 2 {
		return fmt.Errorf("check rate: %d times, want at least 2", len(times))
	}
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	perSec := rate.PerSecond()
	for i := range ts {
		for j := i + 1; j < len(ts); j++ {
			span := ts[j].Sub(ts[i]).Seconds()
			allowed := float64(burst) + 1 + span*perSec
			if float64(j-i+1) > allowed {
				return fmt.Errorf("check rate %s burst %d: %d starts in %.3fs from %s, at most %.1f allowed",
					rate, burst, j-i+1, span, ts[i].Format("15:04:05.000"), allowed)
			}
		}
	}
	took := ts[len(ts)-1].Sub(ts[0]).Seconds()
	want := float64(len(ts)-burst) / perSec
	if took > want*(1+slack)+1/perSec {
		return fmt.Errorf("check rate %s burst %d: %d starts took %.3fs, the rate asks %.3fs (within %.0f%%)",
			rate, burst, len(ts), took, want, slack*100)
	}
	return nil
}
