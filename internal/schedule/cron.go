package schedule

import (
	"math/bits"
	"time"
)

// searchYears is how far Next looks before it decides a schedule never ticks.
const searchYears = 5

// cronSpec is a parsed cron expression: for each field, the set of its
// values as bits.
type cronSpec struct {
	written string
	loc     *time.Location

	minutes, hours, doms, months, dows uint64
	// domAny and dowAny record a field written as a plain *, which does not
	// restrict the day, so the other day field decides alone.
	domAny, dowAny bool
	// hoursWholeDay makes both occurrences of a repeated hour tick.
	hoursWholeDay bool
}

func (c *cronSpec) String() string { return "cron " + c.written + " (" + c.loc.String() + ")" }

// Next walks the wall times that match in increasing order, from the one
// showing at t, and returns the earliest instant after t among them. Wall
// order and instant order differ only in a repeated hour, whose second
// occurrences come after every first one, so the walk can stop at the first
// wall time whose first occurrence is after t.
func (c *cronSpec) Next(t time.Time) time.Time {
	w := c.firstWall(t)
	limit := w.AddDate(searchYears, 0, 0)
	var best time.Time
	earlier := func(x time.Time) bool { return x.After(t) && (best.IsZero() || x.Before(best)) }
	for {
		var ok bool
		if w, ok = c.nextWall(w, limit); !ok {
			return best
		}
		first, second := wallInstants(w, c.loc)
		if first.After(t) {
			if earlier(first) {
				best = first
			}
			return best
		}
		if c.hoursWholeDay && !second.IsZero() && earlier(second) {
			best = second
		}
		w = w.Add(time.Minute)
	}
}

// firstWall is the earliest wall time that may show after t: the one showing
// at t, or, when t is in the first pass of an hour the clock is about to
// repeat and the spec ticks in both, the start of the repeated hour, whose
// second pass is still ahead.
func (c *cronSpec) firstWall(t time.Time) civil {
	w := civilOf(t, c.loc)
	if !c.hoursWholeDay {
		return w
	}
	_, end := t.In(c.loc).ZoneBounds()
	if end.IsZero() || end.Sub(t) > zoneReach*time.Second {
		return w
	}
	return minTime(w, civilOf(end, c.loc))
}

// nextWall is the first wall time at or after w that matches, skipping whole
// months, days and hours that cannot, or false past limit.
func (c *cronSpec) nextWall(w, limit civil) (civil, bool) {
	for !w.After(limit) {
		y, mo, d := w.Date()
		if c.months&(1<<mo) == 0 {
			w = time.Date(y, mo+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !c.dayMatches(d, w.Weekday()) {
			w = time.Date(y, mo, d+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		h, m := w.Hour(), w.Minute()
		nh := nextBit(c.hours, h)
		if nh < 0 {
			w = time.Date(y, mo, d+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if nh != h {
			h, m = nh, 0
		}
		nm := nextBit(c.minutes, m)
		if nm < 0 {
			w = time.Date(y, mo, d, h+1, 0, 0, 0, time.UTC)
			continue
		}
		return time.Date(y, mo, d, h, nm, 0, 0, time.UTC), true
	}
	return time.Time{}, false
}

// dayMatches applies the classic rule: with both day fields restricted, either
// may match; otherwise the unrestricted one matches every day and the other
// decides.
func (c *cronSpec) dayMatches(day int, weekday time.Weekday) bool {
	dom, dow := c.doms&(1<<day) != 0, c.dows&(1<<weekday) != 0
	if c.domAny || c.dowAny {
		return dom && dow
	}
	return dom || dow
}

// nextBit is the smallest value in set at or above from, or -1.
func nextBit(set uint64, from int) int {
	rest := set >> from
	if rest == 0 {
		return -1
	}
	return from + bits.TrailingZeros64(rest)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
