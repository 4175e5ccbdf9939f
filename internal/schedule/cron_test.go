package schedule

import (
	"testing"
	"time"
)

// ticksFrom lists the n ticks of spec after from.
func ticksFrom(spec Spec, from time.Time, n int) []time.Time {
	var ticks []time.Time
	for t := from; len(ticks) < n; {
		t = spec.Next(t)
		ticks = append(ticks, t)
		if t.IsZero() {
			break
		}
	}
	return ticks
}

func mustTime(t *testing.T, layout, value string, loc *time.Location) time.Time {
	t.Helper()
	tm, err := time.ParseInLocation(layout, value, loc)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestCron_Next(t *testing.T) {
	t.Parallel()
	const layout = "2006-01-02 15:04"
	for _, tc := range []struct {
		expr, from string
		want       []string // the next ticks, UTC
	}{
		{"* * * * *", "2026-05-04 10:00", []string{"2026-05-04 10:01", "2026-05-04 10:02", "2026-05-04 10:03"}},
		{"0 3 * * *", "2026-05-04 02:59", []string{"2026-05-04 03:00", "2026-05-05 03:00", "2026-05-06 03:00"}},
		{"0 3 * * *", "2026-05-04 03:00", []string{"2026-05-05 03:00"}},
		{"*/15 * * * *", "2026-05-04 10:07", []string{"2026-05-04 10:15", "2026-05-04 10:30", "2026-05-04 10:45", "2026-05-04 11:00"}},
		{"5-20/5 9 * * *", "2026-05-04 09:12", []string{"2026-05-04 09:15", "2026-05-04 09:20", "2026-05-05 09:05"}},
		// 2026-05-04 is a Monday.
		{"0 9 * * MON,WED,FRI", "2026-05-04 09:00", []string{"2026-05-06 09:00", "2026-05-08 09:00", "2026-05-11 09:00"}},
		{"0 9 * * 1-5", "2026-05-08 12:00", []string{"2026-05-11 09:00", "2026-05-12 09:00"}},
		{"0 0 * * 7", "2026-05-04 00:00", []string{"2026-05-10 00:00", "2026-05-17 00:00"}},
		{"0 0 * * 0", "2026-05-04 00:00", []string{"2026-05-10 00:00", "2026-05-17 00:00"}},
		// Both day fields restricted: the 13th or a Friday.
		{"0 0 13 * FRI", "2026-05-01 00:00", []string{"2026-05-08 00:00", "2026-05-13 00:00", "2026-05-15 00:00", "2026-05-22 00:00"}},
		// Day-of-week alone is *, so only the day of the month counts.
		{"0 0 13 * *", "2026-05-01 00:00", []string{"2026-05-13 00:00", "2026-06-13 00:00"}},
		// Day-of-month alone is *, so only the weekday counts.
		{"0 0 * * FRI", "2026-05-01 00:00", []string{"2026-05-08 00:00", "2026-05-15 00:00"}},
		// */1 restricts: with a weekday too, either matches, so every day does.
		{"0 0 */1 * FRI", "2026-05-01 00:00", []string{"2026-05-02 00:00", "2026-05-03 00:00"}},
		{"0 12 29 2 *", "2026-01-01 00:00", []string{"2028-02-29 12:00", "2032-02-29 12:00"}},
		{"0 12 29 2 *", "2028-02-29 12:00", []string{"2032-02-29 12:00"}},
		{"30 23 31 * *", "2026-01-31 23:30", []string{"2026-03-31 23:30", "2026-05-31 23:30", "2026-07-31 23:30", "2026-08-31 23:30"}},
		{"0 0 28-31 2 *", "2026-02-01 00:00", []string{"2026-02-28 00:00", "2027-02-28 00:00"}},
		{"59 23 31 12 *", "2026-06-01 00:00", []string{"2026-12-31 23:59", "2027-12-31 23:59"}},
		{"* * * * *", "2026-12-31 23:59", []string{"2027-01-01 00:00"}},
		{"0 0 1 JAN-MAR/2 *", "2026-01-01 00:00", []string{"2026-03-01 00:00", "2027-01-01 00:00"}},
		{"@yearly", "2026-05-04 10:00", []string{"2027-01-01 00:00", "2028-01-01 00:00"}},
		{"@monthly", "2026-05-04 10:00", []string{"2026-06-01 00:00", "2026-07-01 00:00"}},
		{"@weekly", "2026-05-04 10:00", []string{"2026-05-10 00:00", "2026-05-17 00:00"}},
		{"@daily", "2026-05-04 10:00", []string{"2026-05-05 00:00", "2026-05-06 00:00"}},
		{"@hourly", "2026-05-04 10:00", []string{"2026-05-04 11:00", "2026-05-04 12:00"}},
		{"0 0 30 2 *", "2026-01-01 00:00", []string{"0001-01-01 00:00"}},
		{"0 0 31 4,6,9,11 *", "2026-01-01 00:00", []string{"0001-01-01 00:00"}},
	} {
		spec, err := ParseCron(tc.expr, time.UTC)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		got := ticksFrom(spec, mustTime(t, layout, tc.from, time.UTC), len(tc.want))
		for i, want := range tc.want {
			if i >= len(got) || got[i].UTC().Format(layout) != want {
				t.Errorf("%q from %s: ticks %v; want %v", tc.expr, tc.from, got, tc.want)
				break
			}
		}
	}
}

func TestCron_NextStrictlyAfter(t *testing.T) {
	t.Parallel()
	spec, err := ParseCron("0 3 * * *", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		from time.Time
		want time.Time
	}{
		{at.Add(-time.Nanosecond), at},
		{at, at.AddDate(0, 0, 1)},
		{at.Add(time.Nanosecond), at.AddDate(0, 0, 1)},
		{at.Add(59 * time.Second), at.AddDate(0, 0, 1)},
	} {
		if got := spec.Next(tc.from); !got.Equal(tc.want) {
			t.Errorf("Next(%s) = %s; want %s", tc.from.Format(time.RFC3339Nano), got, tc.want)
		}
	}
}

func TestCron_NextInZone(t *testing.T) {
	t.Parallel()
	tokyo := loadZone(t, "Asia/Tokyo")
	spec, err := ParseCron("0 3 * * *", tokyo)
	if err != nil {
		t.Fatal(err)
	}
	got := spec.Next(time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC))
	if want := time.Date(2026, 5, 4, 18, 0, 0, 0, time.UTC); !got.Equal(want) || got.Location() != tokyo {
		t.Errorf("03:00 in Tokyo after 2026-05-04 00:00 UTC: %s; want %s in Asia/Tokyo", got, want)
	}
}

func TestCron_NextFixedZone(t *testing.T) {
	t.Parallel()
	minus330 := time.FixedZone("-0330", -(3*3600 + 30*60))
	spec, err := ParseCron("15 22 * * *", minus330)
	if err != nil {
		t.Fatal(err)
	}
	got := spec.Next(time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC))
	if want := time.Date(2026, 5, 4, 1, 45, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("22:15 at -03:30 after 2026-05-04 00:00 UTC: %s; want %s", got, want)
	}
}

func loadZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s does not load: %v", name, err)
	}
	return loc
}

func BenchmarkCron_Next(b *testing.B) {
	paris := loadZone(b, "Europe/Paris")
	for _, expr := range []string{"* * * * *", "0 3 * * *", "*/15 9-17 * * MON-FRI", "0 12 29 2 *", "0 0 30 2 *"} {
		spec, err := ParseCron(expr, paris)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(expr, func(b *testing.B) {
			from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			for b.Loop() {
				spec.Next(from)
			}
		})
	}
}
