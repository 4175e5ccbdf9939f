package schedule

import (
	"time"

	"github.com/oklog/ulid/v2"
)

// TickOf is the tick whose job has ID id in schedule name: the time part
// of the ID, when the ID is the one TickID gives that schedule and time.
func TickOf(name, id string) (time.Time, bool) {
	u, err := ulid.ParseStrict(id)
	if err != nil {
		return time.Time{}, false
	}
	tick := time.UnixMilli(int64(u.Time()))
	return tick, TickID(name, tick) == id
}
