package schedule

// TEMPORARY, not committed: stands for the real package until it merges.

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
)

type Spec interface {
	Next(t time.Time) time.Time
	String() string
}

type every time.Duration

func (e every) Next(t time.Time) time.Time {
	d := time.Duration(e)
	return time.Unix(0, (t.UnixNano()/int64(d)+1)*int64(d))
}
func (e every) String() string { return "every " + time.Duration(e).String() }

func Parse(ev, cron, tz string) (Spec, error) {
	if ev == "" {
		return nil, fmt.Errorf("stub: cron unsupported")
	}
	return ParseEvery(ev)
}
func ParseEvery(s string) (Spec, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return nil, fmt.Errorf("every %q: bad", s)
	}
	return every(d), nil
}

type CatchUp string

const (
	CatchUpNone CatchUp = "none"
	CatchUpLast CatchUp = "last"
	CatchUpAll  CatchUp = "all"
)

func ParseCatchUp(s string) (CatchUp, error) {
	switch s {
	case "":
		return CatchUpLast, nil
	case "none", "last", "all":
		return CatchUp(s), nil
	}
	return "", fmt.Errorf("catch_up %q", s)
}

func Due(spec Spec, mode CatchUp, last, now time.Time, grace time.Duration, max int) ([]time.Time, int) {
	if last.IsZero() {
		return nil, 0
	}
	var on, missed []time.Time
	for t := spec.Next(last); !t.IsZero() && !t.After(now); t = spec.Next(t) {
		if now.Sub(t) <= grace {
			on = append(on, t)
		} else {
			missed = append(missed, t)
		}
	}
	dropped := 0
	switch mode {
	case CatchUpNone:
		dropped, missed = len(missed), nil
	case CatchUpLast:
		if len(missed) > 1 {
			dropped, missed = len(missed)-1, missed[len(missed)-1:]
		}
	case CatchUpAll:
		if len(missed) > max {
			dropped, missed = len(missed)-max, missed[len(missed)-max:]
		}
	}
	return append(missed, on...), dropped
}

func TickID(name string, tick time.Time) string {
	h := sha256.Sum256([]byte("kiln schedule\x00" + name + "\x00" + tick.UTC().Format(time.RFC3339Nano)))
	var id ulid.ULID
	_ = id.SetTime(uint64(tick.UnixMilli()))
	_ = id.SetEntropy(h[:10])
	return id.String()
}
