package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"kiln/api"
	"kiln/e2e/instance"
	"kiln/internal/schedule"
)

// scheduleTable is a [schedules.NAME] table of noop jobs on the default
// queue.
func scheduleTable(name, every, catchUp string) string {
	return fmt.Sprintf("\n[schedules.%s]\nevery = %q\ntype = \"noop\"\nqueue = \"default\"\ncatch_up = %q\npayload = { schedule = %q }\n", name, every, catchUp, name)
}

// tickJobs are the jobs of the default queue that are ticks of the
// schedule name, by tick time: a tick's ID carries its time, and only
// that schedule's tick at that time has that ID.
func tickJobs(t *testing.T, e *env, name string) map[time.Time]*api.Job {
	t.Helper()
	jobs, err := e.client().List(context.Background(), "default", "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[time.Time]*api.Job{}
	for _, j := range jobs {
		tick, ok := schedule.TickOf(name, j.ID)
		if !ok {
			continue
		}
		if _, dup := out[tick]; dup {
			t.Fatalf("two jobs for tick %s of %s", tick, name)
		}
		out[tick] = j
	}
	return out
}

// waitTicks waits until the schedule has at least n tick jobs.
func waitTicks(t *testing.T, e *env, name string, n int) map[time.Time]*api.Job {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := tickJobs(t, e, name)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("schedule %s has %d tick jobs after 60s, want %d", name, len(got), n)
		}
		time.Sleep(50 * time.Millisecond) // polling the daemon under test
	}
}

// A 1 s schedule through a SIGTERM restart, a kill -9 and a reload: one
// job for every tick from the first to the last, none missed and none
// twice, each with the ID its tick derives; a reload that removes it stops
// it and starts the schedule it adds.
func TestSchedules_OneJobPerTickAcrossRestarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, e.configText("", scheduleTable("tick", "1s", "all")))
	d := e.start(t)
	seen := len(waitTicks(t, e, "tick", 3))
	if code := d.stop(t); code != 0 {
		t.Fatalf("kilnd exited %d on SIGTERM", code)
	}
	d = e.start(t)
	seen = len(waitTicks(t, e, "tick", seen+3))
	d.kill(t)
	d = e.start(t)
	waitTicks(t, e, "tick", seen+3)

	e.writeConfig(t, e.configText("", scheduleTable("other", "1s", "none")))
	if r := e.kilnctl(t, "reload"); r.code != 0 {
		t.Fatalf("reload: %d %s", r.code, r.stderr)
	}
	d.waitLog(t, `msg="schedule stopped" schedule=tick why="removed from the config"`)
	stopped := tickJobs(t, e, "tick")
	waitTicks(t, e, "other", 3)
	if after := tickJobs(t, e, "tick"); len(after) != len(stopped) {
		t.Errorf("schedule tick submitted %d jobs after the reload removed it", len(after)-len(stopped))
	}

	var ticks []time.Time
	for tick, j := range stopped {
		ticks = append(ticks, tick)
		var p struct{ Schedule string }
		if err := json.Unmarshal(j.Payload, &p); err != nil || p.Schedule != "tick" || j.Type != "noop" {
			t.Errorf("tick %s: job %s type %s payload %s; want the schedule's noop job", tick, j.ID, j.Type, j.Payload)
		}
	}
	slices.SortFunc(ticks, time.Time.Compare)
	for i := 1; i < len(ticks); i++ {
		if gap := ticks[i].Sub(ticks[i-1]); gap != time.Second {
			t.Errorf("ticks %s and %s are %s apart: a tick missed or out of step", ticks[i-1].Format(time.StampMilli), ticks[i].Format(time.StampMilli), gap)
		}
	}
	if ticks[0].UnixMilli()%1000 != 0 {
		t.Errorf("first tick %s is not on a whole second", ticks[0])
	}
	// The metrics: schedule other's ticks counted, and its last tick's
	// time one of its jobs', no older than those listed before.
	before := tickJobs(t, e, "other")
	metrics, err := instance.Scrape(e.socket)
	if err != nil {
		t.Fatal(err)
	}
	after := tickJobs(t, e, "other")
	if !strings.Contains(metrics, `kiln_schedule_ticks_total{outcome="submitted",schedule="other"}`) {
		t.Errorf("no kiln_schedule_ticks_total of schedule other in /metrics")
	}
	value, ok := instance.MetricValue(metrics, `kiln_schedule_last_tick_timestamp_seconds{schedule="other"}`)
	last, err := strconv.ParseFloat(value, 64)
	ok = ok && err == nil
	lastTick := time.UnixMilli(int64(last*1000 + 0.5))
	if !ok || after[lastTick] == nil {
		t.Errorf("kiln_schedule_last_tick_timestamp_seconds of other is %v (%v), not a tick of its jobs", last, ok)
	}
	for tick := range before {
		if tick.After(lastTick) {
			t.Errorf("the last tick in /metrics, %s, is older than tick %s listed before", lastTick, tick)
		}
	}
	t.Logf("%d ticks from %s to %s, one job each, through a restart, a kill -9 and a reload", len(ticks), ticks[0].Format(time.TimeOnly), ticks[len(ticks)-1].Format(time.TimeOnly))
	e.kilnctl(t, "schedules")
}

// A schedule whose ticks were handled up to 4½ hours ago catches up by its catch_up:
// all five missed hourly ticks, the newest alone, or none; kilnctl
// schedules shows the last tick and its job.
func TestSchedules_CatchUp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		mode string
		want func(missed []time.Time) []time.Time
	}{
		{"all", func(missed []time.Time) []time.Time { return missed }},
		{"last", func(missed []time.Time) []time.Time { return missed[4:] }},
		{"none", func([]time.Time) []time.Time { return nil }},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			// The hour is read here, as kilnd starts: a parallel test
			// can wait long before it runs.
			newest := awayFromTheHour(t).Truncate(time.Hour)
			handled := newest.Add(-4*time.Hour - 30*time.Minute)
			missed := []time.Time{}
			for h := 4; h >= 0; h-- {
				missed = append(missed, newest.Add(-time.Duration(h)*time.Hour))
			}
			want := c.want(missed)
			e := newEnv(t)
			e.writeConfig(t, e.configText("", scheduleTable("hourly", "1h", c.mode)))
			if err := os.MkdirAll(e.state, 0o750); err != nil {
				t.Fatal(err)
			}
			state := fmt.Sprintf(`{"schedule.hourly": %d}`, handled.UnixMilli())
			if err := os.WriteFile(filepath.Join(e.state, "leads.json"), []byte(state), 0o640); err != nil {
				t.Fatal(err)
			}
			d := e.start(t)
			if c.mode == "all" {
				d.waitLog(t, "schedule submitted its tick's job")
			} else {
				d.waitLog(t, "schedule missed ticks while no kilnd ran it")
			}
			got := waitTicks(t, e, "hourly", len(want))
			var ticks []time.Time
			for tick := range got {
				ticks = append(ticks, tick)
			}
			slices.SortFunc(ticks, time.Time.Compare)
			if !slices.EqualFunc(ticks, want, time.Time.Equal) {
				t.Errorf("catch_up %s submitted ticks %v, want %v", c.mode, ticks, want)
			}
			r := e.kilnctl(t, "schedules")
			if r.code != 0 || !strings.Contains(r.stdout, "hourly") || !strings.Contains(r.stdout, "every 1h") {
				t.Fatalf("kilnctl schedules: %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if c.mode == "none" {
				if !strings.Contains(r.stdout, "not submitted") {
					t.Errorf("kilnctl schedules does not say the last tick went in no job:\n%s", r.stdout)
				}
			} else if id := schedule.TickID("hourly", newest); !strings.Contains(r.stdout, id) {
				t.Errorf("kilnctl schedules does not show the last tick's job %s:\n%s", id, r.stdout)
			}
			t.Logf("catch_up %s: %d jobs\n%s", c.mode, len(ticks), r.stdout)
		})
	}
}

// awayFromTheHour returns the time once it is neither in the first 15 s
// of an hour, where the hour's tick is on time rather than missed, nor in
// the last 30 s, where the hour could turn before kilnd reads the clock.
func awayFromTheHour(t *testing.T) time.Time {
	t.Helper()
	now := time.Now()
	into := now.Sub(now.Truncate(time.Hour))
	switch {
	case into < 15*time.Second:
		time.Sleep(15*time.Second - into) // the clock, not a condition, is waited for
	case into > time.Hour-30*time.Second:
		time.Sleep(time.Hour - into + 15*time.Second)
	}
	return time.Now()
}
