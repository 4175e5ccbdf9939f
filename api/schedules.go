package api

import (
	"context"
	"net/http"
	"time"

	"kiln/kilntype"
)

// Schedules is the body of GET /v1/schedules: every configured schedule,
// by name.
type Schedules struct {
	Schedules []Schedule `json:"schedules"`
}

// Schedule is one schedule: when it ticks, the job each tick submits, and
// how its last tick went.
type Schedule struct {
	Name    string `json:"name"`
	Spec    string `json:"spec"`     // "every 15m", "cron 0 3 * * * (Europe/Paris)"
	CatchUp string `json:"catch_up"` // none, last or all
	Type    string `json:"type"`
	Queue   string `json:"queue,omitempty"` // "" when the kind picks it
	// NextTick is the schedule's next tick; zero when there is none.
	NextTick time.Time `json:"next_tick,omitzero"`
	// LastTick is the newest tick that is past, and LastJob that tick's
	// job (its ID derived from the schedule and the tick), nil when the
	// tick submitted none: kilnd was down and catch_up left it out, or
	// the schedule began after it.
	LastTick time.Time    `json:"last_tick,omitzero"`
	LastJob  *ScheduleJob `json:"last_job,omitempty"`
	// Leading says this kilnd submits the schedule's ticks: always on the
	// local backend, one host of a fleet on RabbitMQ.
	Leading bool `json:"leading"`
	// LastError is why this kilnd's last try to submit a tick failed, ""
	// once a tick went in.
	LastError string `json:"last_error,omitempty"`
}

// ScheduleJob is the job of a schedule's tick.
type ScheduleJob struct {
	ID    string         `json:"id"`
	State kilntype.State `json:"state"`
}

// Schedules returns the configured schedules.
func (c *Client) Schedules(ctx context.Context) (*Schedules, error) {
	var s Schedules
	if err := c.do(ctx, http.MethodGet, Version+"/schedules", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
