package daemon

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"kiln/api"
	"kiln/internal/schedule"
	"kiln/worker"
)

// ScheduleConfig is a [schedules.NAME] table: when the schedule ticks and
// the job each tick submits, with the fields of a submit.
type ScheduleConfig struct {
	Every    string `toml:"every"`
	Cron     string `toml:"cron"`
	Timezone string `toml:"timezone"`
	CatchUp  string `toml:"catch_up"`

	Type        string          `toml:"type"`
	Payload     SchedulePayload `toml:"payload"`
	Queue       string          `toml:"queue"`
	Priority    int             `toml:"priority"`
	MaxAttempts int             `toml:"max_attempts"`
	Timeout     Duration        `toml:"timeout"`
}

// SchedulePayload is a schedule's job payload: a TOML table, which the job
// gets as the JSON object it reads as, or a string that holds the JSON.
type SchedulePayload struct{ JSON json.RawMessage }

// DecodeConfigValue implements configValueDecoder.
func (p *SchedulePayload) DecodeConfigValue(v any) error {
	switch v := v.(type) {
	case string:
		if v == "" {
			p.JSON = nil // none: the job gets {}
			return nil
		}
		if !json.Valid([]byte(v)) {
			return fmt.Errorf("the string is not JSON: write the payload as a table, payload = { path = \"/srv/in/a.jpg\" }, or as a JSON string")
		}
		p.JSON = json.RawMessage(v)
	case map[string]any:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("cannot be written as JSON: %v", err)
		}
		p.JSON = b
	default:
		return fmt.Errorf("must be a table or a string of JSON, not %s", tomlKind(v))
	}
	return nil
}

// MarshalText writes the payload as its JSON, a string -print-config
// shows and that reads back as the same payload.
func (p SchedulePayload) MarshalText() ([]byte, error) { return p.JSON, nil }

// scheduleName is what a schedule's name may hold: it names the schedule's
// lead among hosts and goes into its tick jobs' IDs.
var scheduleName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// maxCatchUp bounds the missed ticks catch_up = "all" submits at once.
const maxCatchUp = 1000

// spec parses when the schedule ticks.
func (s ScheduleConfig) spec() (schedule.Spec, error) {
	return schedule.Parse(s.Every, s.Cron, s.Timezone)
}

// parseScheduleSpecs parses each schedule's spec once; one that does not
// parse is left out, and validate reports it.
func (c *Config) parseScheduleSpecs() {
	c.scheduleSpecs = map[string]schedule.Spec{}
	for name, s := range c.Schedules {
		if spec, err := s.spec(); err == nil {
			c.scheduleSpecs[name] = spec
		}
	}
}

// catchUp is the schedule's catch_up, "last" when unset.
func (s ScheduleConfig) catchUp() schedule.CatchUp {
	c, err := schedule.ParseCatchUp(s.CatchUp)
	if err != nil {
		return schedule.CatchUpLast
	}
	return c
}

// submitRequest is the submit each tick makes.
func (s ScheduleConfig) submitRequest() api.SubmitRequest {
	req := api.SubmitRequest{Type: s.Type, Queue: s.Queue, Payload: s.Payload.JSON, Priority: s.Priority, MaxAttempts: s.MaxAttempts}
	if s.Timeout > 0 {
		req.Timeout = s.Timeout.Std().String()
	}
	return req
}

// specKey is the key a schedule's spec error is about: the every, cron or
// timezone its message starts with, else the table.
func specKey(name string, err error) string {
	first, _, _ := strings.Cut(err.Error(), " ")
	switch first {
	case "every", "cron", "timezone":
		return "schedules." + name + "." + first
	}
	return "schedules." + name
}

// validateSchedules reports what is wrong with the [schedules] tables that
// can be told from the config alone; what a job kind checks of a payload
// (a file that must exist, say) is checked at each tick, as a submit's is.
func (c *Config) validateSchedules(report func(key, msg string)) {
	types := c.jobTypes()
	for _, name := range sortedKeys(c.Schedules) {
		s := c.Schedules[name]
		key := func(k string) string { return "schedules." + name + "." + k }
		if !scheduleName.MatchString(name) {
			report("schedules."+name, "a schedule's name is 1 to 64 letters, digits, '-' and '_'")
		}
		if _, parsed := c.scheduleSpecs[name]; !parsed {
			_, err := s.spec()
			report(specKey(name, err), err.Error())
		}
		if _, err := schedule.ParseCatchUp(s.CatchUp); err != nil {
			report(key("catch_up"), err.Error())
		}
		switch {
		case s.Type == "":
			report(key("type"), fmt.Sprintf("is required: the job kind each tick submits (known: %s)", strings.Join(types, ", ")))
		case !slices.Contains(types, s.Type):
			report(key("type"), fmt.Sprintf("no job kind %q (known: %s)", s.Type, strings.Join(types, ", ")))
		}
		if s.Queue != "" {
			if _, ok := c.Queues[s.Queue]; !ok {
				report(key("queue"), fmt.Sprintf("unknown queue %q (configured: %s)", s.Queue, strings.Join(sortedKeys(c.Queues), ", ")))
			}
		}
		if s.Priority < 0 || s.Priority > worker.MaxPriority {
			report(key("priority"), fmt.Sprintf("must be between 0 and %d", worker.MaxPriority))
		}
		if s.MaxAttempts < 0 {
			report(key("max_attempts"), "must not be negative (0 takes the queue's)")
		}
		if s.Timeout < 0 {
			report(key("timeout"), "must not be negative (0 takes the queue's)")
		}
		if len(s.Payload.JSON) > worker.MaxPayload {
			report(key("payload"), fmt.Sprintf("%d bytes is over the %d KiB limit of a job's payload", len(s.Payload.JSON), worker.MaxPayload>>10))
		}
	}
}
