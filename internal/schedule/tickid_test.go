package schedule

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

func TestTickID_Derivation(t *testing.T) {
	t.Parallel()
	paris := loadZone(t, "Europe/Paris")
	for _, tc := range []struct {
		name string
		tick time.Time
	}{
		{"nightly-report", time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC)},
		{"nightly-report", time.Date(2026, 5, 4, 5, 0, 0, 0, paris)},
		{"", time.Unix(0, 0)},
		{"päivä", time.Date(2026, 12, 31, 23, 59, 0, 123456789, time.UTC)},
	} {
		id := TickID(tc.name, tc.tick)
		parsed, err := ulid.ParseStrict(id)
		if err != nil || len(id) != 26 {
			t.Errorf("TickID(%q, %s) = %q: %v", tc.name, tc.tick, id, err)
			continue
		}
		if got, want := parsed.Time(), uint64(tc.tick.UnixMilli()); got != want {
			t.Errorf("TickID(%q, %s): time part %d; want %d", tc.name, tc.tick, got, want)
		}
		sum := sha256.Sum256([]byte("kiln schedule\x00" + tc.name + "\x00" + tc.tick.UTC().Format(time.RFC3339Nano)))
		if got := parsed.Entropy(); !bytes.Equal(got, sum[:10]) {
			t.Errorf("TickID(%q, %s): random part %x; want %x", tc.name, tc.tick, got, sum[:10])
		}
		if again := TickID(tc.name, tc.tick.In(time.Local)); again != id {
			t.Errorf("TickID(%q, %s) gave %s, then %s for the same instant", tc.name, tc.tick, id, again)
		}
	}
}

func TestTickID_Distinct(t *testing.T) {
	t.Parallel()
	tick := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC)
	base := TickID("nightly", tick)
	for _, tc := range []struct {
		what string
		id   string
	}{
		{"another schedule", TickID("nightly-2", tick)},
		{"a schedule whose name ends like the tick", TickID("nightly\x00", tick)},
		{"the next tick", TickID("nightly", tick.Add(24*time.Hour))},
		{"a tick a millisecond later", TickID("nightly", tick.Add(time.Millisecond))},
		{"a tick a nanosecond later", TickID("nightly", tick.Add(time.Nanosecond))},
	} {
		if tc.id == base {
			t.Errorf("%s has the same ID %s", tc.what, base)
		}
	}
	if TickID("nightly", tick) != base {
		t.Errorf("the same schedule and tick gave two IDs")
	}
}
