package schedule

import (
	"fmt"
	"strings"
	"time"
)

// CatchUp says which missed ticks a schedule still runs.
type CatchUp string

const (
	CatchUpNone CatchUp = "none" // drop the missed ticks
	CatchUpLast CatchUp = "last" // run the newest missed tick only
	CatchUpAll  CatchUp = "all"  // run the missed ticks, up to a maximum of the newest
)

// ParseCatchUp reads a catch-up mode; "" means "last", the one that neither
// loses a schedule's run to a restart nor floods the queue after an outage.
func ParseCatchUp(s string) (CatchUp, error) {
	switch m := CatchUp(strings.TrimSpace(s)); m {
	case "":
		return CatchUpLast, nil
	case CatchUpNone, CatchUpLast, CatchUpAll:
		return m, nil
	}
	return "", fmt.Errorf("catch-up mode %q: want none, last or all", s)
}

// Due returns the ticks to submit now, oldest first. last is the newest tick
// already submitted; zero means none, and a schedule that never ran starts
// with its next tick, so Due returns nothing for it. Ticks in (last, now] are
// candidates. A candidate within grace of now (now - tick <= grace) is on
// time and always returned. Older ones were missed: CatchUpNone drops them,
// CatchUpLast keeps only the newest missed one, CatchUpAll keeps the newest
// max of them (none for a max below 1). dropped counts the missed ticks not
// returned. An unknown mode counts as CatchUpLast.
//
// The missed ticks are counted, not listed: an every spec counts them by
// arithmetic and a cron spec by whole days, so a last far in the past costs
// little. A cron spec counts over at most the 20 years before the grace
// period, and a Spec of another package is followed for at most a million
// ticks; beyond those, dropped is a lower bound. The on-time ticks are
// listed one by one, so a grace should span few ticks of the spec.
func Due(spec Spec, mode CatchUp, last, now time.Time, grace time.Duration, max int) (ticks []time.Time, dropped int) {
	if last.IsZero() || !now.After(last) {
		return nil, 0
	}
	grace = maxOf(grace, 0)
	// Ticks before cut were missed; from cut to now they are on time.
	cut := now.Add(-grace)
	keep := 1
	switch mode {
	case CatchUpNone:
		keep = 0
	case CatchUpAll:
		keep = maxOf(max, 0)
	}
	if cut.After(last) {
		counter := counterOf(spec)
		missed := counter.countBetween(last, cut)
		ticks = counter.newestBefore(last, cut, min(keep, missed))
		dropped = missed - len(ticks)
	}
	from := last
	if before := cut.Add(-time.Nanosecond); before.After(from) {
		from = before
	}
	for t := spec.Next(from); !t.IsZero() && !t.After(now); t = spec.Next(t) {
		ticks = append(ticks, t)
	}
	return ticks, dropped
}

func maxOf[T int | time.Duration](a, b T) T {
	if a > b {
		return a
	}
	return b
}
