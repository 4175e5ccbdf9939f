package schedule

import (
	"testing"
	"time"
)

func TestEvery_Next(t *testing.T) {
	t.Parallel()
	kolkata := loadZone(t, "Asia/Kolkata") // +05:30: local hours are not UTC hours
	for _, tc := range []struct {
		every      string
		from, want time.Time
	}{
		{"15m", time.Date(2026, 5, 4, 10, 7, 30, 0, time.UTC), time.Date(2026, 5, 4, 10, 15, 0, 0, time.UTC)},
		{"15m", time.Date(2026, 5, 4, 10, 15, 0, 0, time.UTC), time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC)},
		{"15m", time.Date(2026, 5, 4, 10, 14, 59, 999999999, time.UTC), time.Date(2026, 5, 4, 10, 15, 0, 0, time.UTC)},
		{"1h", time.Date(2026, 5, 4, 10, 0, 0, 0, kolkata), time.Date(2026, 5, 4, 10, 30, 0, 0, kolkata)},
		{"24h", time.Date(2026, 5, 4, 10, 0, 0, 0, kolkata), time.Date(2026, 5, 5, 5, 30, 0, 0, kolkata)},
		{"7s", time.Unix(0, 0), time.Unix(7, 0)},
		{"7s", time.Unix(13, 500_000_000), time.Unix(14, 0)},
		{"7s", time.Unix(14, 0), time.Unix(21, 0)},
		{"7s", time.Unix(-1, 0), time.Unix(0, 0)},
		{"7s", time.Unix(-8, 0), time.Unix(-7, 0)},
		{"7s", time.Unix(-7, 1), time.Unix(0, 0)},
		{"1s", time.Unix(100, 1), time.Unix(101, 0)},
		{"90s", time.Unix(1_780_000_000, 0), time.Unix(1_780_000_020, 0)},
	} {
		spec, err := ParseEvery(tc.every)
		if err != nil {
			t.Fatal(err)
		}
		got := spec.Next(tc.from)
		if !got.Equal(tc.want) || got.Location() != tc.from.Location() {
			t.Errorf("every %s after %s: %s; want %s", tc.every, tc.from.Format(time.RFC3339Nano), got.Format(time.RFC3339Nano), tc.want.Format(time.RFC3339Nano))
		}
	}
}

// TestEvery_NextAligned checks that any starting point gives the same ticks:
// multiples of the period since the epoch.
func TestEvery_NextAligned(t *testing.T) {
	t.Parallel()
	for _, every := range []string{"1s", "7s", "1m", "15m", "13h"} {
		spec, err := ParseEvery(every)
		if err != nil {
			t.Fatal(err)
		}
		period := spec.(*everySpec).period
		for _, from := range []time.Time{time.Unix(1_780_000_123, 456), time.Unix(1_780_000_000, 0), time.Unix(99, 0)} {
			tick := spec.Next(from)
			if tick.Unix()%period != 0 || tick.Nanosecond() != 0 || !tick.After(from) || tick.Sub(from) > time.Duration(period)*time.Second {
				t.Errorf("every %s after %s: %s is not the next multiple of %ds", every, from, tick, period)
			}
		}
	}
}
