package schedule

import (
	"testing"
	"time"
)

// The changes of 2026: Europe/Paris springs forward from 02:00 to 03:00 on
// March 29 and falls back from 03:00 to 02:00 on October 25;
// America/New_York springs forward from 02:00 to 03:00 on March 8 and falls
// back from 02:00 to 01:00 on November 1.

func TestCron_NextDST(t *testing.T) {
	t.Parallel()
	const layout = "2006-01-02 15:04 MST"
	for _, tc := range []struct {
		zone, expr, from string // from is UTC
		want             []string
	}{
		{"Europe/Paris", "30 2 * * *", "2026-03-27 12:00 UTC", []string{"2026-03-28 02:30 CET", "2026-03-29 03:00 CEST", "2026-03-30 02:30 CEST"}},
		{"Europe/Paris", "*/15 2 * * *", "2026-03-28 12:00 UTC", []string{"2026-03-29 03:00 CEST", "2026-03-30 02:00 CEST", "2026-03-30 02:15 CEST"}},
		{"Europe/Paris", "0 3 * * *", "2026-03-28 12:00 UTC", []string{"2026-03-29 03:00 CEST", "2026-03-30 03:00 CEST"}},
		{"Europe/Paris", "30 2 * * *", "2026-10-24 12:00 UTC", []string{"2026-10-25 02:30 CEST", "2026-10-26 02:30 CET"}},
		{"Europe/Paris", "*/15 2 * * *", "2026-10-24 12:00 UTC", []string{"2026-10-25 02:00 CEST", "2026-10-25 02:15 CEST", "2026-10-25 02:30 CEST", "2026-10-25 02:45 CEST", "2026-10-26 02:00 CET"}},
		{"Europe/Paris", "0 2 * * *", "2026-10-25 00:30 UTC", []string{"2026-10-26 02:00 CET"}},
		{"America/New_York", "30 2 * * *", "2026-03-07 12:00 UTC", []string{"2026-03-08 03:00 EDT", "2026-03-09 02:30 EDT"}},
		{"America/New_York", "30 1 * * *", "2026-10-31 12:00 UTC", []string{"2026-11-01 01:30 EDT", "2026-11-02 01:30 EST"}},
		{"America/New_York", "0 * * * *", "2026-11-01 04:30 UTC", []string{"2026-11-01 01:00 EDT", "2026-11-01 01:00 EST", "2026-11-01 02:00 EST"}},
		// From inside the first pass of the repeated hour, the second pass is still ahead.
		{"America/New_York", "0 * * * *", "2026-11-01 05:30 UTC", []string{"2026-11-01 01:00 EST", "2026-11-01 02:00 EST"}},
		{"America/New_York", "*/20 * * * *", "2026-11-01 05:50 UTC", []string{"2026-11-01 01:00 EST", "2026-11-01 01:20 EST"}},
		{"America/New_York", "0 */2 * * *", "2026-11-01 03:30 UTC", []string{"2026-11-01 00:00 EDT", "2026-11-01 02:00 EST"}},
		{"America/New_York", "0 1 * * *", "2026-11-01 05:30 UTC", []string{"2026-11-02 01:00 EST"}},
	} {
		loc := loadZone(t, tc.zone)
		spec, err := ParseCron(tc.expr, loc)
		if err != nil {
			t.Fatal(err)
		}
		got := ticksFrom(spec, mustTime(t, "2006-01-02 15:04 MST", tc.from, time.UTC), len(tc.want))
		for i, want := range tc.want {
			if i >= len(got) || got[i].In(loc).Format(layout) != want {
				t.Errorf("%s in %s from %s: %v; want %v", tc.expr, tc.zone, tc.from, got, tc.want)
				break
			}
		}
	}
}

func TestCron_NextDSTRealSpacing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		zone   string
		change time.Time // the instant of the change
	}{
		{"Europe/Paris", time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)},
		{"Europe/Paris", time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC)},
		{"America/New_York", time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)},
		{"America/New_York", time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)},
	} {
		loc := loadZone(t, tc.zone)
		if _, end := tc.change.Add(-time.Hour).In(loc).ZoneBounds(); !end.Equal(tc.change) {
			t.Fatalf("%s: the zone data has no change at %s", tc.zone, tc.change)
		}
		spec, err := ParseCron("*/15 * * * *", loc)
		if err != nil {
			t.Fatal(err)
		}
		from := tc.change.Add(-3 * time.Hour)
		ticks := ticksFrom(spec, from, 24) // six hours of real time
		for i, tick := range ticks {
			if want := from.Add(time.Duration(i+1) * 15 * time.Minute); !tick.Equal(want) {
				t.Errorf("*/15 in %s around %s: tick %d at %s; want %s", tc.zone, tc.change, i, tick.In(loc), want.In(loc))
				break
			}
		}
	}
}
