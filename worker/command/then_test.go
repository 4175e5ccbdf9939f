package command

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"kiln/worker"
)

// thenView is a view whose job types are those of tables, noop and image,
// as the daemon makes it from every plugin's config.
func thenView(tables *Tables) *worker.ConfigView {
	v := view()
	v.JobTypes = append([]string{"image", "noop"}, tables.JobTypes()...)
	slices.Sort(v.JobTypes)
	return v
}

// A then must name job types, and commands may not lead back to
// themselves; a chain through image, noop or another command that ends is
// fine.
func TestThenCheck(t *testing.T) {
	t.Parallel()
	tables := tablesOf(map[string]Config{
		"fetch":  {Command: []string{"/bin/true"}, Then: []string{"image", "noop"}},
		"upload": {Command: []string{"/bin/true"}, Then: []string{"notify"}},
		"notify": {Command: []string{"/bin/true"}},
		"typo":   {Command: []string{"/bin/true"}, Then: []string{"", "uplod", "webhook"}},
		"self":   {Command: []string{"/bin/true"}, Then: []string{"notify", "self"}},
		"ping":   {Command: []string{"/bin/true"}, Then: []string{"pong"}},
		"pong":   {Command: []string{"/bin/true"}, Then: []string{"relay"}},
		"relay":  {Command: []string{"/bin/true"}, Then: []string{"upload", "ping"}},
		"feeder": {Command: []string{"/bin/true"}, Then: []string{"ping"}},
	})
	var problems problemList
	tables.Check(thenView(tables), &problems)
	types := "feeder, fetch, image, noop, notify, ping, pong, relay, self, typo, upload"
	want := []string{
		`commands.ping.then[0]: "pong" leads back to ping (ping -> pong -> relay -> ping): a chain may not loop, or it would run until its 64th step and fail there`,
		`commands.pong.then[0]: "relay" leads back to pong (pong -> relay -> ping -> pong): a chain may not loop, or it would run until its 64th step and fail there`,
		`commands.relay.then[1]: "ping" leads back to relay (relay -> ping -> pong -> relay): a chain may not loop, or it would run until its 64th step and fail there`,
		`commands.self.then[1]: "self" leads back to self (self -> self): a chain may not loop, or it would run until its 64th step and fail there`,
		`commands.typo.then[0]: is empty; name a job type`,
		`commands.typo.then[1]: "uplod" is no job type (job types: ` + types + `)`,
		`commands.typo.then[2]: "webhook" is no job type (job types: ` + types + `)`,
	}
	if strings.Join(problems, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
}

// Each success of a command is followed by a job of each type its then
// names, in order, with the result as payload (a nil Payload) in its own
// kind's queue; a reload's then applies to
// the next job that finishes.
func TestThenFollowUpsFollowTheConfigInEffect(t *testing.T) {
	t.Parallel()
	current := tablesOf(map[string]Config{
		"upload": {Command: []string{"/bin/true"}, Then: []string{"notify", "noop"}},
		"notify": {Command: []string{"/bin/true"}},
	})
	kinds, err := Plugin().Start(worker.Host{Config: func() worker.PluginConfig { return current }, View: view, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	notify, upload := kinds[0].(worker.FollowUpper), kinds[1].(worker.FollowUpper)
	job := &worker.JobRecord{ID: "j", Type: "upload"}
	got := upload.FollowUps(job, json.RawMessage(`{"ok":true}`))
	if len(got) != 2 || got[0].Type != "notify" || got[1].Type != "noop" || got[0].Payload != nil || got[1].Payload != nil || got[0].Queue != "" || got[1].Queue != "" {
		t.Fatalf("follow-ups of upload = %+v", got)
	}
	if got := notify.FollowUps(job, nil); got != nil {
		t.Fatalf("follow-ups of a command without then = %+v", got)
	}
	current = tablesOf(map[string]Config{
		"upload": {Command: []string{"/bin/true"}},
		"notify": {Command: []string{"/bin/true"}, Then: []string{"upload"}},
	})
	if got := upload.FollowUps(job, nil); got != nil {
		t.Fatalf("follow-ups of upload after its then was removed = %+v", got)
	}
	if got := notify.FollowUps(job, nil); len(got) != 1 || got[0].Type != "upload" {
		t.Fatalf("follow-ups of notify after a reload gave it a then = %+v", got)
	}
}

// A reload whose then names a command that only a restart would start is
// refused, naming the entry; one that names running types is taken.
func TestThenReloadNeedsRunningTypes(t *testing.T) {
	t.Parallel()
	current := tablesOf(map[string]Config{"upload": {Command: []string{"/bin/true"}}})
	p := Plugin()
	kinds, err := p.Start(worker.Host{Config: func() worker.PluginConfig { return current }, View: view, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	running, _ := worker.NewKinds(append(kinds, worker.Noop{})...)
	p.(*plugin).host.Kind = func(t string) worker.Kind { return running[t] }

	next := tablesOf(map[string]Config{
		"upload": {Command: []string{"/bin/true"}, Then: []string{"noop", "added"}},
		"added":  {Command: []string{"/bin/true"}},
	})
	var problems problemList
	p.Reload(next, &problems)
	want := `commands.upload.then[1]: job type "added" does not run yet: a command a reload adds runs only after a restart`
	if len(problems) != 1 || problems[0] != want {
		t.Fatalf("reload problems = %v, want %s", problems, want)
	}
	problems = nil
	p.Reload(tablesOf(map[string]Config{"upload": {Command: []string{"/bin/true"}, Then: []string{"noop", "upload"}}}), &problems)
	if len(problems) != 0 {
		t.Fatalf("a reload naming running types: %v", problems)
	}
}
