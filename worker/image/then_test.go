package image

import (
	"encoding/json"
	"strings"
	"testing"

	"kiln/worker"
)

// A pipeline's then names job types: another plugin's (a command) is
// fine; image itself, a pipeline's name and a name of nothing are
// refused, each saying what to write instead.
func TestThenCheck(t *testing.T) {
	t.Parallel()
	variants := []Variant{{Name: "w", Width: 10}}
	c := DefaultConfig()
	c.Pipelines = map[string]Pipeline{
		"web":    {OutputDir: "/srv/web", Variants: variants, Then: []string{"upload", "noop"}},
		"thumbs": {OutputDir: "/srv/thumbs", Variants: variants, Then: []string{"image", "web", "uplod", ""}},
	}
	view := viewWithQueues(map[string]int{"default": 1})
	view.JobTypes = []string{"image", "noop", "upload"}
	c.Fill(view)
	var problems problemList
	c.Check(view, &problems)
	want := []string{
		`pipelines.thumbs.then[0]: an image job's result lists the outputs written, and no image job takes that as its payload: a step into a pipeline is an image job after a command that prints {"pipeline": NAME, "input": PATH}`,
		`pipelines.thumbs.then[1]: "web" is a pipeline, not a job type: a step into it is an image job, after a command that prints {"pipeline": "web", "input": PATH}`,
		`pipelines.thumbs.then[2]: "uplod" is no job type (job types: image, noop, upload)`,
		`pipelines.thumbs.then[3]: is empty; name a job type`,
	}
	if strings.Join(problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
	if got := c.JobTypes(); len(got) != 1 || got[0] != "image" {
		t.Errorf("JobTypes = %v", got)
	}
}

// An image job that succeeds is followed by a job of each type its
// pipeline's then names, as the config in effect says when it finishes;
// the result is each one's payload (a nil Payload), in its own kind's
// queue.
func TestThenFollowUpsFollowTheConfigInEffect(t *testing.T) {
	t.Parallel()
	settings := Settings{Pipelines: map[string]Pipeline{"web": {Then: []string{"upload", "notify"}}, "plain": {}}}
	k := NewKind(func() Settings { return settings }, testPool(t))
	job := func(pipeline string) *worker.JobRecord {
		return &worker.JobRecord{ID: "j", Type: JobType, Payload: json.RawMessage(`{"pipeline":"` + pipeline + `","input":"/srv/a.jpg"}`)}
	}
	got := k.FollowUps(job("web"), json.RawMessage(`{"outputs":[]}`))
	if len(got) != 2 || got[0].Type != "upload" || got[1].Type != "notify" || got[0].Payload != nil || got[1].Payload != nil || got[0].Queue != "" || got[1].Queue != "" {
		t.Fatalf("follow-ups of a web job = %+v", got)
	}
	for _, p := range []string{"plain", "gone"} {
		if got := k.FollowUps(job(p), nil); got != nil {
			t.Fatalf("follow-ups of a %s job = %+v", p, got)
		}
	}
	settings = Settings{Pipelines: map[string]Pipeline{"web": {Then: []string{"notify"}}}}
	if got := k.FollowUps(job("web"), nil); len(got) != 1 || got[0].Type != "notify" {
		t.Fatalf("follow-ups of a web job after a reload = %+v", got)
	}
}

// A reload whose pipeline's then names a type the running kilnd lacks (a
// command that reload adds) is refused, naming the entry.
func TestThenReloadNeedsRunningTypes(t *testing.T) {
	t.Parallel()
	current := DefaultConfig()
	p := &plugin{host: &worker.Host{
		Config: func() worker.PluginConfig { return &current },
		Kind: func(t string) worker.Kind {
			if t == "noop" {
				return worker.Noop{}
			}
			return nil
		},
	}}
	next := DefaultConfig()
	next.worker = testWorkerBinary
	next.Pipelines = map[string]Pipeline{"web": {Then: []string{"noop", "added"}}}
	var problems problemList
	p.Reload(&next, &problems)
	want := `pipelines.web.then[1]: job type "added" does not run yet: a command a reload adds runs only after a restart`
	if len(problems) != 1 || problems[0] != want {
		t.Fatalf("reload problems = %v, want %s", problems, want)
	}
}
