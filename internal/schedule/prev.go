package schedule

import "time"

// prevWindows are the spans Prev looks back over, shortest first: the
// first that holds a tick is walked forward with Next, so the walk is
// short for a schedule of any period.
var prevWindows = []time.Duration{time.Minute, time.Hour, 24 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour, 5 * 367 * 24 * time.Hour}

// Prev is the newest tick at or before t, zero when there is none within
// five years.
func Prev(spec Spec, t time.Time) time.Time {
	for _, w := range prevWindows {
		from := t.Add(-w)
		n := spec.Next(from)
		if n.IsZero() || n.After(t) {
			continue
		}
		for {
			after := spec.Next(n)
			if after.IsZero() || after.After(t) {
				return n
			}
			n = after
		}
	}
	return time.Time{}
}
