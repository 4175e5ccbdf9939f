package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Spec is when a schedule ticks. The specs of this package are immutable,
// so one may be shared by goroutines.
type Spec interface {
	// Next is the first tick strictly after t (zero time if there is none
	// within 5 years, e.g. "0 0 30 2 *").
	Next(t time.Time) time.Time
	// String is the spec as written (e.g. "every 15m" or
	// "cron 0 3 * * * (Europe/Paris)").
	String() string
}

// Parse builds a Spec from a schedule's config keys: exactly one of every
// and cron must be set; timezone ("" = time.Local) applies to cron only, and
// setting it with every is an error rather than silently ignored, since an
// interval ticks in real time whatever the zone.
func Parse(every, cron, timezone string) (Spec, error) {
	every, cron, timezone = strings.TrimSpace(every), strings.TrimSpace(cron), strings.TrimSpace(timezone)
	switch {
	case every != "" && cron != "":
		return nil, fmt.Errorf("every %q and cron %q: set only one of them", every, cron)
	case every == "" && cron == "":
		return nil, errors.New("schedule: set one of every and cron")
	case every != "":
		if timezone != "" {
			return nil, fmt.Errorf("timezone %q: applies to cron only, and every %q ticks in real time", timezone, every)
		}
		return ParseEvery(every)
	}
	loc := time.Local
	if timezone != "" {
		var err error
		if loc, err = time.LoadLocation(timezone); err != nil {
			return nil, fmt.Errorf("timezone %q: unknown time zone", timezone)
		}
	}
	return ParseCron(cron, loc)
}
