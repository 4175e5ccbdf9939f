package daemon

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// lineOf is the line of text that holds s, from 1.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	i := strings.Index(text, s)
	if i < 0 {
		t.Fatalf("%q not in the config", s)
	}
	return 1 + strings.Count(text[:i], "\n")
}

func TestLoadConfig_Schedules(t *testing.T) {
	t.Parallel()
	text := validConfig + `
[schedules.nightly]
cron = "0 3 * * *"
timezone = "Europe/Paris"
type = "noop"
payload = { path = "/srv/in/a.jpg", sizes = [1, 2], deep = { on = true } }
queue = "images"
priority = 7
max_attempts = 2
timeout = "30s"

[schedules.often]
every = "15m"
type = "noop"
payload = '{"a": [1, 2]}'
catch_up = "all"
`
	cfg, err := LoadConfig(writeConfig(t, text), testPlugins()...)
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Schedules["nightly"]
	if got := string(n.Payload.JSON); got != `{"deep":{"on":true},"path":"/srv/in/a.jpg","sizes":[1,2]}` {
		t.Errorf("a table payload reads as %s", got)
	}
	if n.catchUp() != "last" || cfg.Schedules["often"].catchUp() != "all" {
		t.Errorf("catch_up: %s and %s, want last (the default) and all", n.catchUp(), cfg.Schedules["often"].catchUp())
	}
	req := n.submitRequest()
	if req.Type != "noop" || req.Queue != "images" || req.Priority != 7 || req.MaxAttempts != 2 || req.Timeout != "30s" {
		t.Errorf("the tick's submit: %+v", req)
	}
	if got := string(cfg.Schedules["often"].Payload.JSON); got != `{"a": [1, 2]}` {
		t.Errorf("a JSON string payload reads as %s", got)
	}
	spec, ok := cfg.scheduleSpecs["nightly"]
	if !ok || !strings.Contains(spec.String(), "Europe/Paris") {
		t.Errorf("spec %v, parsed %v: want the cron in its zone", spec, ok)
	}
}

func TestLoadConfig_ScheduleErrorsNameFileLineAndKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		table string
		line  string // the line the error is reported on
		want  string
	}{
		{"both every and cron", "every = \"1m\"\ncron = \"* * * * *\"\ntype = \"noop\"", "every = ", "schedules.s.every: "},
		{"neither", "type = \"noop\"", "[schedules.s]", "schedules.s: "},
		{"bad every", "every = \"soon\"\ntype = \"noop\"", "every = ", `schedules.s.every: every "soon"`},
		{"bad cron", "cron = \"0 25 * * *\"\ntype = \"noop\"", "cron = ", `schedules.s.cron: cron "0 25 * * *"`},
		{"unknown zone", "cron = \"0 3 * * *\"\ntimezone = \"Mars/Base\"\ntype = \"noop\"", "timezone = ", `schedules.s.timezone: timezone "Mars/Base"`},
		{"bad catch_up", "every = \"1m\"\ntype = \"noop\"\ncatch_up = \"some\"", "catch_up = ", `schedules.s.catch_up: `},
		{"no type", "every = \"1m\"", "[schedules.s]", `schedules.s.type: is required: the job kind each tick submits (known: `},
		{"unknown type", "every = \"1m\"\ntype = \"video\"", "type = ", `schedules.s.type: no job kind "video" (known: `},
		{"unknown queue", "every = \"1m\"\ntype = \"noop\"\nqueue = \"nope\"", "queue = \"nope\"", `schedules.s.queue: unknown queue "nope" (configured: `},
		{"priority", "every = \"1m\"\ntype = \"noop\"\npriority = 5000", "priority = ", `schedules.s.priority: must be between 0 and 1000`},
		{"payload not JSON", "every = \"1m\"\ntype = \"noop\"\npayload = \"{nope\"", "payload = ", `schedules.s.payload: the string is not JSON`},
		{"payload a number", "every = \"1m\"\ntype = \"noop\"\npayload = 5", "payload = ", `schedules.s.payload: must be a table or a string of JSON, not an integer`},
		{"unknown key", "every = \"1m\"\ntype = \"noop\"\nrun_in = \"5m\"", "run_in = ", `schedules.s.run_in: unknown key`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			text := validConfig + "\n[schedules.s]\n" + c.table + "\n"
			path := writeConfig(t, text)
			_, err := LoadConfig(path, testPlugins()...)
			var cerr *ConfigError
			if !errors.As(err, &cerr) {
				t.Fatalf("err = %v, want a ConfigError", err)
			}
			want := fmt.Sprintf("%s:%d: %s", path, lineOf(t, text, c.line), c.want)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error\n%s\ndoes not hold\n%s", err, want)
			}
		})
	}
	t.Run("name", func(t *testing.T) {
		t.Parallel()
		path := writeConfig(t, validConfig+"\n[schedules.\"nightly run\"]\nevery = \"1m\"\ntype = \"noop\"\n")
		_, err := LoadConfig(path, testPlugins()...)
		if err == nil || !strings.Contains(err.Error(), `schedules.nightly run: a schedule's name is 1 to 64 letters, digits, '-' and '_'`) {
			t.Errorf("a name with a space: %v", err)
		}
	})
}
