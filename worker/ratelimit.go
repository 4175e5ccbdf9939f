package worker

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rate is a queue's rate limit, written "50/s", "300/m" or "1000/h": at
// most Count job starts per Per. The zero Rate is no limit.
type Rate struct {
	Count int
	Per   time.Duration
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Rate) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "" {
		*r = Rate{}
		return nil
	}
	n, unit, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(strings.TrimSpace(n))
	per, known := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[strings.TrimSpace(unit)]
	if !ok || err != nil || !known || count < 1 {
		return fmt.Errorf("invalid rate %q (use a whole number of jobs per s, m or h, e.g. \"50/s\", \"1000/h\")", b)
	}
	*r = Rate{Count: count, Per: per}
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (r Rate) MarshalText() ([]byte, error) {
	if r.Count == 0 {
		return []byte(""), nil
	}
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	return []byte(fmt.Sprintf("%d/%s", r.Count, unit)), nil
}

// Limited reports whether r limits anything.
func (r Rate) Limited() bool { return r.Count > 0 && r.Per > 0 }

// PerSecond is r as job starts per second.
func (r Rate) PerSecond() float64 {
	if !r.Limited() {
		return math.Inf(1)
	}
	return float64(r.Count) / r.Per.Seconds()
}

// String is r as written in the config.
func (r Rate) String() string {
	b, _ := r.MarshalText()
	return string(b)
}

// BurstOf is the burst a queue's rate allows: its burst setting, or one
// job when unset, so that an unset burst spaces the starts evenly.
func BurstOf(cfg QueueConfig) int {
	return max(cfg.Burst, 1)
}
