package schedule

import (
	"testing"
	"time"
)

func TestPrev(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 10, 7, 30, 0, time.UTC)
	for _, c := range []struct {
		every string
		t     time.Time
		want  time.Time
	}{
		{"1s", at, at},
		{"1m", at, time.Date(2026, 12, 3, 10, 7, 0, 0, time.UTC)},
		{"15m", at, time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)},
		{"15m", time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)},
		{"24h", at, time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)},
		{"720h", at, time.Unix(0, 0).Add(at.Sub(time.Unix(0, 0)) / (720 * time.Hour) * (720 * time.Hour))},
	} {
		spec, err := ParseEvery(c.every)
		if err != nil {
			t.Fatal(err)
		}
		if got := Prev(spec, c.t); !got.Equal(c.want) {
			t.Errorf("Prev(every %s, %s) = %s, want %s", c.every, c.t, got, c.want)
		}
	}
}

func TestTickOf(t *testing.T) {
	t.Parallel()
	tick := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	id := TickID("nightly", tick)
	if got, ok := TickOf("nightly", id); !ok || !got.Equal(tick) {
		t.Errorf("TickOf(nightly, %s) = %s, %v; want %s", id, got, ok, tick)
	}
	if _, ok := TickOf("other", id); ok {
		t.Error("another schedule's tick ID taken for its own")
	}
	if _, ok := TickOf("nightly", "not-an-id"); ok {
		t.Error("a string that is no ULID taken for a tick")
	}
}

func TestPrev_Cron(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no zone Europe/Paris: %v", err)
	}
	at := time.Date(2026, 12, 3, 10, 7, 30, 0, paris)
	for _, c := range []struct {
		cron string
		want time.Time
	}{
		{"* * * * *", time.Date(2026, 12, 3, 10, 7, 0, 0, paris)},
		{"0 3 * * *", time.Date(2026, 12, 3, 3, 0, 0, 0, paris)},
		{"0 12 * * *", time.Date(2026, 12, 2, 12, 0, 0, 0, paris)},
		{"0 0 1 1 *", time.Date(2026, 1, 1, 0, 0, 0, 0, paris)},
		{"0 12 29 2 *", time.Date(2024, 2, 29, 12, 0, 0, 0, paris)},
	} {
		spec, err := ParseCron(c.cron, paris)
		if err != nil {
			t.Fatal(err)
		}
		if got := Prev(spec, at); !got.Equal(c.want) {
			t.Errorf("Prev(cron %s, %s) = %s, want %s", c.cron, at, got, c.want)
		}
	}
}
