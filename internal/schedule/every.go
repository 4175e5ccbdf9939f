package schedule

import (
	"fmt"
	"strings"
	"time"
)

// everySpec ticks at the multiples of period seconds since the Unix epoch.
type everySpec struct {
	written string
	period  int64 // seconds, at least 1
}

// ParseEvery reads a Go duration of at least 1s in whole seconds. Ticks fall
// on multiples of the duration since the Unix epoch (UTC), so every host and
// every restart agrees on the tick times without shared state.
func ParseEvery(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("every %q: not a duration (e.g. 90s, 15m, 2h)", s)
	case d < time.Second:
		return nil, fmt.Errorf("every %q: must be at least 1s", s)
	case d%time.Second != 0:
		return nil, fmt.Errorf("every %q: must be whole seconds", s)
	}
	return &everySpec{written: s, period: int64(d / time.Second)}, nil
}

func (e *everySpec) String() string { return "every " + e.written }

func (e *everySpec) Next(t time.Time) time.Time {
	return time.Unix(e.after(t), 0).In(t.Location())
}

// after is the first tick strictly after t, in Unix seconds. Ticks are whole
// seconds, so the next multiple above t's whole second is above t itself.
func (e *everySpec) after(t time.Time) int64 {
	return (floorDiv(t.Unix(), e.period) + 1) * e.period
}

// before is the last tick strictly before t, in Unix seconds.
func (e *everySpec) before(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() == 0 {
		s--
	}
	return floorDiv(s, e.period) * e.period
}

// countBetween counts the ticks strictly between after and before without
// listing them, however long the span.
func (e *everySpec) countBetween(after, before time.Time) int {
	lo, hi := e.after(after), e.before(before)
	if hi < lo {
		return 0
	}
	return int((hi-lo)/e.period + 1)
}

// newestBefore is the newest n ticks strictly between after and before,
// oldest first.
func (e *everySpec) newestBefore(after, before time.Time, n int) []time.Time {
	lo, hi := e.after(after), e.before(before)
	if hi < lo || n <= 0 {
		return nil
	}
	if k := (hi-lo)/e.period + 1; int64(n) > k {
		n = int(k)
	}
	ticks := make([]time.Time, n)
	for i := range ticks {
		ticks[i] = time.Unix(hi-int64(n-1-i)*e.period, 0).In(before.Location())
	}
	return ticks
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
