package schedule

import (
	"crypto/sha256"
	"time"

	"github.com/oklog/ulid/v2"
)

// TickID is the job ID of a schedule's tick: a ULID whose time part is the
// tick's Unix milliseconds and whose 80-bit random part is the first 10 bytes
// of SHA-256 over "kiln schedule\x00" + name + "\x00" + the tick in RFC 3339
// (UTC, nanoseconds). Every host derives the same ID for the same tick, so a
// tick submitted twice (by two hosts, or again after a restart) is one job,
// while IDs still sort by tick time like any other job's.
func TickID(name string, tick time.Time) string {
	sum := sha256.Sum256([]byte("kiln schedule\x00" + name + "\x00" + tick.UTC().Format(time.RFC3339Nano)))
	var id ulid.ULID
	ms := tick.UnixMilli()
	// A ULID's time is 48 bits from the epoch; ticks outside it are clamped
	// rather than refused, since no schedule ticks there in practice.
	if ms < 0 {
		ms = 0
	}
	_ = id.SetTime(min(uint64(ms), ulid.MaxTime()))
	copy(id[6:], sum[:10])
	return id.String()
}
