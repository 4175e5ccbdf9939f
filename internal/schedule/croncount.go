package schedule

import (
	"math"
	"math/bits"
	"time"
)

// countHorizon bounds the span over which a cron spec counts missed ticks,
// so that a last tick from decades ago costs a bounded walk over days.
const countHorizon = 20 * 366 * 24 * time.Hour

// A cron spec counts its ticks day by day: on a day without a change of the
// clock, the ticks of a matching day are its hours times its minutes; only
// the days of a change, and the partial days at the ends of a span, are
// walked tick by tick.

func (c *cronSpec) countBetween(after, before time.Time) int {
	if !after.Before(before) {
		return 0
	}
	if before.Sub(after) > countHorizon {
		after = before.Add(-countHorizon)
	}
	day := civilDay(after, c.loc).AddDate(0, 0, 1)
	start := c.dayStart(day)
	if !start.Before(before) {
		return countByNext(c, after, before, math.MaxInt)
	}
	n := countByNext(c, after, start, math.MaxInt)
	for {
		nextDay := day.AddDate(0, 0, 1)
		next := c.dayStart(nextDay)
		if !next.Before(before) {
			return n + countByNext(c, start.Add(-time.Nanosecond), before, math.MaxInt)
		}
		n += c.dayTicks(day, start, next)
		day, start = nextDay, next
	}
}

// newestBefore finds, walking back a day at a time, the day from which at
// least n ticks remain before before, then lists the ticks from there, so it
// follows at most n ticks and a day's worth more.
func (c *cronSpec) newestBefore(after, before time.Time, n int) []time.Time {
	if n <= 0 || !after.Before(before) {
		return nil
	}
	if before.Sub(after) > countHorizon {
		after = before.Add(-countHorizon)
	}
	from := after
	day := civilDay(before, c.loc)
	if start := c.dayStart(day); start.After(after) {
		got := countByNext(c, start.Add(-time.Nanosecond), before, n)
		for got < n {
			prevDay := day.AddDate(0, 0, -1)
			prev := c.dayStart(prevDay)
			if !prev.After(after) {
				break
			}
			got += c.dayTicks(prevDay, prev, start)
			day, start = prevDay, prev
		}
		if got >= n {
			from = start.Add(-time.Nanosecond)
		}
	}
	return newestByNext(c, from, before, n, math.MaxInt)
}

// dayTicks counts the ticks of day's wall times, which fall from start (the
// day's first instant) to next (the next day's).
func (c *cronSpec) dayTicks(day civil, start, next time.Time) int {
	if c.months&(1<<day.Month()) == 0 || !c.dayMatches(day.Day(), day.Weekday()) {
		return 0
	}
	if _, end := start.ZoneBounds(); end.IsZero() || !end.Before(next) {
		return bits.OnesCount64(c.hours) * bits.OnesCount64(c.minutes)
	}
	return countByNext(c, start.Add(-time.Nanosecond), next, math.MaxInt)
}

// dayStart is the first instant of day in the spec's zone: its midnight, or
// the end of a gap that swallows midnight.
func (c *cronSpec) dayStart(day civil) time.Time {
	first, _ := wallInstants(day, c.loc)
	return first
}

func civilDay(t time.Time, loc *time.Location) civil {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
