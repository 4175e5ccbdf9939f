package schedule

import (
	"slices"
	"testing"
	"time"
)

func TestDue_CatchUp(t *testing.T) {
	t.Parallel()
	every, err := ParseEvery("1m")
	if err != nil {
		t.Fatal(err)
	}
	cron, err := ParseCron("* * * * *", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	at := func(hhmm string) time.Time { return mustTime(t, "2006-01-02 15:04:05", "2026-05-04 "+hhmm, time.UTC) }
	grace := 30 * time.Second
	for _, tc := range []struct {
		what        string
		mode        CatchUp
		last, now   string
		grace       time.Duration
		max         int
		want        []string // HH:MM of the ticks
		wantDropped int
	}{
		// From 10:00, ticks 10:01-10:04 were missed and 10:05 is on time.
		{"none drops the missed", CatchUpNone, "10:00:00", "10:05:10", grace, 10, []string{"10:05"}, 4},
		{"last keeps the newest missed", CatchUpLast, "10:00:00", "10:05:10", grace, 10, []string{"10:04", "10:05"}, 3},
		{"all keeps every missed", CatchUpAll, "10:00:00", "10:05:10", grace, 10, []string{"10:01", "10:02", "10:03", "10:04", "10:05"}, 0},
		{"all keeps the newest max", CatchUpAll, "10:00:00", "10:05:10", grace, 2, []string{"10:03", "10:04", "10:05"}, 2},
		{"all with max 0 keeps none", CatchUpAll, "10:00:00", "10:05:10", grace, 0, []string{"10:05"}, 4},
		{"an unknown mode is last", "", "10:00:00", "10:05:10", grace, 10, []string{"10:04", "10:05"}, 3},
		{"missed only", CatchUpLast, "10:00:00", "10:05:45", grace, 10, []string{"10:05"}, 4},
		{"missed only, none", CatchUpNone, "10:00:00", "10:05:45", grace, 10, nil, 5},
		{"on time only", CatchUpNone, "10:04:00", "10:05:10", grace, 10, []string{"10:05"}, 0},
		{"on time at exactly the grace", CatchUpNone, "10:00:00", "10:05:30", grace, 10, []string{"10:05"}, 4},
		{"a grace over all ticks", CatchUpNone, "10:00:00", "10:05:10", time.Hour, 0, []string{"10:01", "10:02", "10:03", "10:04", "10:05"}, 0},
		{"no grace", CatchUpNone, "10:00:00", "10:05:00", 0, 10, []string{"10:05"}, 4},
		{"a negative grace is none", CatchUpNone, "10:00:00", "10:05:00", -time.Minute, 10, []string{"10:05"}, 4},
		{"a last between ticks", CatchUpAll, "10:02:30", "10:05:10", grace, 10, []string{"10:03", "10:04", "10:05"}, 0},
		{"nothing new", CatchUpAll, "10:05:00", "10:05:10", grace, 10, nil, 0},
		{"now before last", CatchUpAll, "10:05:00", "10:01:00", grace, 10, nil, 0},
		{"now at the tick", CatchUpAll, "10:04:00", "10:05:00", grace, 10, []string{"10:05"}, 0},
	} {
		for _, spec := range []Spec{every, cron} {
			ticks, dropped := Due(spec, tc.mode, at(tc.last), at(tc.now), tc.grace, tc.max)
			var got []string
			for _, tick := range ticks {
				got = append(got, tick.UTC().Format("15:04"))
			}
			if !slices.Equal(got, tc.want) || dropped != tc.wantDropped {
				t.Errorf("%s (%s): %v, dropped %d; want %v, dropped %d", tc.what, spec, got, dropped, tc.want, tc.wantDropped)
			}
		}
	}
}

func TestDue_ZeroLast(t *testing.T) {
	t.Parallel()
	spec, err := ParseEvery("1s")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []CatchUp{CatchUpNone, CatchUpLast, CatchUpAll} {
		if ticks, dropped := Due(spec, mode, time.Time{}, time.Now(), time.Minute, 100); len(ticks) != 0 || dropped != 0 {
			t.Errorf("%s: a schedule that never ran gave %d ticks, dropped %d", mode, len(ticks), dropped)
		}
	}
}

// TestDue_LongOutage has a last decades old: the missed ticks must be counted,
// not listed (listing them would take minutes and gigabytes), and the newest
// kept.
func TestDue_LongOutage(t *testing.T) {
	t.Parallel()
	paris := loadZone(t, "Europe/Paris")
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		every, cron string
		last        time.Time
		period      time.Duration
	}{
		{every: "1s", last: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), period: time.Second},
		// Every wall minute of Paris is a real minute apart, daylight saving included.
		{cron: "* * * * *", last: time.Date(2016, 5, 4, 10, 0, 0, 0, time.UTC), period: time.Minute},
	} {
		var spec Spec
		var err error
		if tc.every != "" {
			spec, err = ParseEvery(tc.every)
		} else {
			spec, err = ParseCron(tc.cron, paris)
		}
		if err != nil {
			t.Fatal(err)
		}
		const grace, max = 3 * time.Second, 5
		ticks, dropped := Due(spec, CatchUpAll, tc.last, now, grace, max)
		candidates := int(now.Sub(tc.last) / tc.period)
		onTime := int(grace/tc.period) + 1
		if wantDropped := candidates - onTime - max; dropped != wantDropped {
			t.Errorf("%s: dropped %d; want %d", spec, dropped, wantDropped)
		}
		var want []time.Time
		for i := max + onTime - 1; i >= 0; i-- {
			want = append(want, now.Add(-time.Duration(i)*tc.period))
		}
		if !slices.EqualFunc(ticks, want, time.Time.Equal) {
			t.Errorf("%s: ticks %v; want %v", spec, ticks, want)
		}
	}
}

// TestCron_CountBetween compares the day-by-day count of cron ticks, and the
// newest ticks it picks, with following Next over the same span, across the
// changes of the clock.
func TestCron_CountBetween(t *testing.T) {
	t.Parallel()
	spans := [][2]time.Time{
		{time.Date(2026, 3, 1, 5, 17, 33, 0, time.UTC), time.Date(2026, 4, 5, 11, 0, 0, 0, time.UTC)},
		{time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 5, 23, 59, 59, 0, time.UTC)},
		{time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC), time.Date(2026, 3, 29, 2, 0, 0, 0, time.UTC)},
		{time.Date(2026, 11, 1, 5, 10, 0, 0, time.UTC), time.Date(2026, 11, 1, 6, 20, 0, 0, time.UTC)},
	}
	for _, zone := range []string{"Europe/Paris", "America/New_York", "UTC"} {
		loc := loadZone(t, zone)
		for _, expr := range []string{"30 2 * * *", "*/15 * * * *", "0 * * * *", "*/7 1-3 * * *", "0 0 13 * FRI", "0 0 30 2 *"} {
			spec, err := ParseCron(expr, loc)
			if err != nil {
				t.Fatal(err)
			}
			c := spec.(*cronSpec)
			for _, span := range spans {
				var walked []time.Time
				for tick := c.Next(span[0]); !tick.IsZero() && tick.Before(span[1]); tick = c.Next(tick) {
					walked = append(walked, tick)
				}
				if got := c.countBetween(span[0], span[1]); got != len(walked) {
					t.Errorf("%s from %s to %s: counted %d; Next gives %d", spec, span[0], span[1], got, len(walked))
				}
				for _, n := range []int{1, 3, 50} {
					want := walked[len(walked)-min(n, len(walked)):]
					if got := c.newestBefore(span[0], span[1], n); !slices.EqualFunc(got, want, time.Time.Equal) {
						t.Errorf("%s from %s to %s: newest %d %v; want %v", spec, span[0], span[1], n, got, want)
					}
				}
			}
		}
	}
}

// stepSpec is a Spec of another package, which cannot count its ticks.
type stepSpec struct{ step time.Duration }

func (s stepSpec) Next(t time.Time) time.Time { return t.Truncate(s.step).Add(s.step) }
func (s stepSpec) String() string             { return "step " + s.step.String() }

func TestDue_OtherSpec(t *testing.T) {
	t.Parallel()
	last := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	ticks, dropped := Due(stepSpec{time.Minute}, CatchUpAll, last, last.Add(10*time.Minute+10*time.Second), 30*time.Second, 3)
	want := []time.Time{last.Add(7 * time.Minute), last.Add(8 * time.Minute), last.Add(9 * time.Minute), last.Add(10 * time.Minute)}
	if !slices.EqualFunc(ticks, want, time.Time.Equal) || dropped != 6 {
		t.Errorf("ticks %v, dropped %d; want %v, dropped 6", ticks, dropped, want)
	}
	if n := countByNext(stepSpec{time.Second}, last, last.Add(time.Hour), 100); n != 100 {
		t.Errorf("a walk limited to 100 ticks counted %d", n)
	}
}

// TestDue_CenturyOutage has a cron last a century old: the count stops at
// its horizon rather than walking every day since, and the newest ticks are
// still the ones kept.
func TestDue_CenturyOutage(t *testing.T) {
	t.Parallel()
	paris := loadZone(t, "Europe/Paris")
	spec, err := ParseCron("0 * * * *", paris)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 4, 10, 0, 30, 0, time.UTC)
	ticks, dropped := Due(spec, CatchUpLast, time.Date(1926, 1, 1, 0, 0, 0, 0, time.UTC), now, time.Minute, 10)
	want := []time.Time{time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC), time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	if !slices.EqualFunc(ticks, want, time.Time.Equal) {
		t.Errorf("ticks %v; want %v", ticks, want)
	}
	// Hourly ticks over the 20-year horizon, give or take the hours of
	// daylight saving changes.
	if hours := int(countHorizon / time.Hour); dropped < hours-100 || dropped > hours {
		t.Errorf("dropped %d; want about %d, the hours of the horizon", dropped, hours)
	}
}
