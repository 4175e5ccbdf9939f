package rabbitmq

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"kiln/api"
	"kiln/internal/rabbitnode"
	"kiln/internal/schedule"
)

// scheduleEverySecond is a schedule of a noop job every second that
// submits every missed tick.
const scheduleEverySecond = `
[schedules.tick]
every = "1s"
type = "noop"
queue = "default"
catch_up = "all"
`

// scheduleTicks are the tick jobs of schedule name that h knows, by tick.
func scheduleTicks(t *testing.T, h *host, name string) (map[time.Time]*api.Job, error) {
	t.Helper()
	jobs, err := h.client().List(context.Background(), "default", "", 10000)
	if err != nil {
		return nil, err
	}
	out := map[time.Time]*api.Job{}
	for _, j := range jobs {
		tick, ok := schedule.TickOf(name, j.ID)
		if !ok {
			continue
		}
		if _, dup := out[tick]; dup {
			t.Fatalf("two jobs for tick %s", tick)
		}
		out[tick] = j
	}
	return out, nil
}

// leaderOf is the host that says it submits the schedule's ticks.
func leaderOf(t *testing.T, name string, hosts ...*host) *host {
	t.Helper()
	var leader *host
	waitFor(t, 30*time.Second, "one host leading schedule "+name, func() (string, bool) {
		var leading []string
		leader = nil
		for _, h := range hosts {
			if !h.alive() {
				continue
			}
			s, err := h.client().Schedules(context.Background())
			if err != nil {
				return err.Error(), false
			}
			for _, sc := range s.Schedules {
				if sc.Name == name && sc.Leading {
					leading = append(leading, h.name)
					leader = h
				}
			}
		}
		return strings.Join(leading, ","), len(leading) == 1
	})
	return leader
}

// A 1 s schedule on two kilnd hosts sharing one broker, run for 30 s, with
// kill -9 of the host that submits its ticks half-way: the other takes the
// lead and submits the ticks missed meanwhile, so that there is one job
// for every tick of the 30 s, none missed and none twice.
func TestSchedule_OneJobPerTickAcrossAKilledHost(t *testing.T) {
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	prefix := uniquePrefix(t)
	urls := []string{brokerURL(node, "")}
	a := startHost(t, "a", pics, hostConfig{urls: urls, prefix: prefix, extra: scheduleEverySecond})
	b := startHost(t, "b", pics, hostConfig{urls: urls, prefix: prefix, extra: scheduleEverySecond})

	first := leaderOf(t, "tick", a, b)
	other := a
	if first == a {
		other = b
	}
	var start time.Time
	waitFor(t, 60*time.Second, "15 ticks before the kill", func() (string, bool) {
		ticks, err := scheduleTicks(t, other, "tick")
		if err != nil {
			return err.Error(), false
		}
		for tick := range ticks {
			if start.IsZero() || tick.Before(start) {
				start = tick
			}
		}
		return fmt.Sprint(len(ticks)), len(ticks) >= 15
	})
	first.kill()
	killed := time.Now()
	if got := leaderOf(t, "tick", other); got != other {
		t.Fatalf("after the kill of %s, %v leads", first.name, got)
	}
	tookOver := time.Since(killed)
	end := start.Add(29 * time.Second)
	var ticks map[time.Time]*api.Job
	waitFor(t, 90*time.Second, "every tick of the 30 s known to the survivor", func() (string, bool) {
		var err error
		if ticks, err = scheduleTicks(t, other, "tick"); err != nil {
			return err.Error(), false
		}
		_, ok := ticks[end]
		return fmt.Sprintf("%d ticks", len(ticks)), ok
	})
	var missed []string
	for tick := start; !tick.After(end); tick = tick.Add(time.Second) {
		if ticks[tick] == nil {
			missed = append(missed, tick.Format(time.TimeOnly))
		}
	}
	if len(missed) > 0 {
		t.Errorf("ticks without a job: %v", missed)
	}
	var all []time.Time
	for tick := range ticks {
		all = append(all, tick)
	}
	slices.SortFunc(all, time.Time.Compare)
	for i := 1; i < len(all); i++ {
		if all[i].Sub(all[i-1]) != time.Second {
			t.Errorf("ticks %s and %s are %s apart", all[i-1].Format(time.StampMilli), all[i].Format(time.StampMilli), all[i].Sub(all[i-1]))
		}
	}
	caughtUp := strings.Count(other.stderr.String(), "schedule submitted its tick's job") // on the survivor, since its start
	t.Logf("kill -9 of %s %s after the first tick; %s led again %s after the kill; %d ticks from %s to %s, one job each; the survivor submitted %d of them",
		first.name, killed.Sub(start).Round(time.Millisecond), other.name, tookOver.Round(time.Millisecond), len(all), all[0].Format(time.TimeOnly), all[len(all)-1].Format(time.TimeOnly), caughtUp)
}
