package schedule

import (
	"math"
	"time"
)

// zoneReach bounds how far a wall clock may be from UTC (the widest offset
// on record is under 16 h), so that every instant showing a given wall time
// lies within it.
const zoneReach = 26 * 3600

// civil is a wall-clock date and time with no zone, carried as a UTC time
// so that the calendar arithmetic of package time applies to it.
type civil = time.Time

func civilOf(t time.Time, loc *time.Location) civil {
	lt := t.In(loc)
	return time.Date(lt.Year(), lt.Month(), lt.Day(), lt.Hour(), lt.Minute(), 0, 0, time.UTC)
}

// wallInstants returns the instants at which the clock of loc reads w. The
// first is its only or earliest occurrence, or, when the clock springs
// forward over w, the first instant after the gap; the second is set when
// the clock falls back over w and shows it again.
func wallInstants(w civil, loc *time.Location) (first, second time.Time) {
	if loc == time.UTC {
		return w, time.Time{}
	}
	ws := w.Unix()
	var found []int64
	gapEnd, gap := int64(0), false
	// Walk the zone's periods (spans of one offset) around w: in each, the
	// instant showing w is w minus the offset, if that instant lies in it.
	for u := ws - zoneReach; ; {
		at := time.Unix(u, 0).In(loc)
		_, offset := at.Zone()
		startT, endT := at.ZoneBounds()
		start, end := int64(math.MinInt64), int64(math.MaxInt64)
		if !startT.IsZero() {
			start = startT.Unix()
		}
		if !endT.IsZero() {
			end = endT.Unix()
		}
		switch inst := ws - int64(offset); {
		case inst >= start && inst < end:
			found = append(found, inst)
		case inst < start && !gap:
			// This period already shows a later wall time than w at its
			// start: the clock jumped over w into it.
			gapEnd, gap = start, true
		}
		if end == math.MaxInt64 || end > ws+zoneReach || end <= u {
			break
		}
		u = end
	}
	switch {
	case len(found) >= 2:
		return time.Unix(found[0], 0).In(loc), time.Unix(found[1], 0).In(loc)
	case len(found) == 1:
		return time.Unix(found[0], 0).In(loc), time.Time{}
	case gap:
		return time.Unix(gapEnd, 0).In(loc), time.Time{}
	}
	// Unreachable for a zone database that covers w; read w with the
	// offset in force just before it rather than lose the tick.
	_, offset := time.Unix(ws, 0).In(loc).Zone()
	return time.Unix(ws-int64(offset), 0).In(loc), time.Time{}
}
