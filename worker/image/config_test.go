package image

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"kiln/worker"
)

// problemList collects problems as the daemon words them, without a file.
type problemList []string

func (p *problemList) Report(key, msg string)          { *p = append(*p, key+": "+msg) }
func (p *problemList) ReportTransient(key, msg string) { p.Report(key, msg) }

func viewWithQueues(queues map[string]int) *worker.ConfigView {
	v := &worker.ConfigView{ConfigDir: "/etc/kiln", StateDir: "/var/lib/kiln", DefaultQueue: "default", Queues: map[string]worker.QueueConfig{}}
	for name, n := range queues {
		q := worker.DefaultQueueConfig()
		q.Concurrency = n
		v.Queues[name] = q
	}
	return v
}

// Fill gives a pipeline the default queue and its variants their
// defaults, takes a relative output_dir from the config's directory,
// allows the upload directory when the file names no root, and shares the
// CPUs among the picture jobs that may run at once.
func TestConfigFillDerivesWhatFollows(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	c.Pipelines = map[string]Pipeline{
		"web":    {OutputDir: "out/web", Variants: []Variant{{Name: "w", Width: 10}}},
		"thumbs": {Queue: "small", OutputDir: "/srv/thumbs", Variants: []Variant{{Name: "t", Width: 10}}},
	}
	c.Fill(viewWithQueues(map[string]int{"default": 1, "small": 1}))
	web := c.Pipelines["web"]
	if web.Queue != "default" || web.OutputDir != "/etc/kiln/out/web" || web.Variants[0].Fit != "inside" || web.Variants[0].Gravity != "centre" {
		t.Errorf("pipeline web after Fill: %+v", web)
	}
	if c.Pipelines["thumbs"].Queue != "small" || c.Pipelines["thumbs"].OutputDir != "/srv/thumbs" {
		t.Errorf("pipeline thumbs after Fill: %+v", c.Pipelines["thumbs"])
	}
	if got := strings.Join(c.Images.AllowedInputRoots, ","); got != "/var/lib/kiln/uploads" {
		t.Errorf("allowed_input_roots = %s, want the upload directory", got)
	}
	if want := max(1, runtime.NumCPU()/2); c.Images.ThreadsPerWorker != want {
		t.Errorf("threads_per_worker = %d, want %d (two queues of one job each)", c.Images.ThreadsPerWorker, want)
	}

	// Roots the file names, even none, are its own.
	c = DefaultConfig()
	c.Images.AllowedInputRoots = []string{}
	c.Fill(viewWithQueues(nil))
	if c.Images.AllowedInputRoots == nil || len(c.Images.AllowedInputRoots) != 0 {
		t.Errorf("allowed_input_roots = %v after Fill, want the file's empty list", c.Images.AllowedInputRoots)
	}
}

// Check reports every problem of [images] and the pipelines under its
// full key, a queue that is not configured among them.
func TestConfigCheckNamesEveryKey(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	c.Images.MaxPixels = -1
	c.Images.AllowedInputRoots = []string{"/srv/in", "relative"}
	c.Pipelines = map[string]Pipeline{"web": {Queue: "nowhere", Variants: []Variant{{Name: "w", Width: 10}}}}
	view := viewWithQueues(map[string]int{"default": 1})
	c.Fill(view)
	var problems problemList
	c.Check(view, &problems)
	want := []string{
		"images.max_pixels: must not be negative (0 means no limit)",
		`images.allowed_input_roots[1]: "relative" must be an absolute path`,
		`pipelines.web.queue: queue "nowhere" is not configured (add a [queues.nowhere] table)`,
		"pipelines.web.output_dir: is required",
	}
	if strings.Join(problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
}

// What the daemon asks of the image config: the pipelines' notify_urls,
// their output directories and their names.
func TestConfigTellsTheDaemonItsURLsPathsAndNames(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	c.Pipelines = map[string]Pipeline{
		"web":    {OutputDir: "/srv/web", NotifyURL: "https://app.example/hook"},
		"thumbs": {OutputDir: "/srv/thumbs"},
	}
	if got := c.NotifyURLs(); len(got) != 1 || got[0] != (worker.NotifyURL{Key: "pipelines.web.notify_url", URL: "https://app.example/hook"}) {
		t.Errorf("NotifyURLs = %+v", got)
	}
	paths := c.Paths(nil)
	if len(paths) != 2 || paths[0] != (worker.ConfigPath{Key: "pipelines.thumbs.output_dir", Path: "/srv/thumbs", Use: worker.PathOutputDir, For: "jobs of pipeline thumbs"}) {
		t.Errorf("Paths = %+v", paths)
	}
	if got := strings.Join(c.Names()["pipelines"], ","); got != "thumbs,web" {
		t.Errorf("Names = %v", c.Names())
	}
}

// An image job is described by its pipeline and its picture.
func TestJobKindDescribesAJob(t *testing.T) {
	t.Parallel()
	k := NewKind(func() Settings { return Settings{} }, testPool(t))
	payload, _ := json.Marshal(Payload{Pipeline: "web", Input: "/srv/in/a.jpg"})
	got := k.Describe(&worker.JobRecord{Type: JobType, Payload: payload})
	if got != (worker.JobDescription{Summary: "pipeline web: /srv/in/a.jpg", Input: "/srv/in/a.jpg"}) {
		t.Errorf("Describe = %+v", got)
	}
	if got := k.Describe(&worker.JobRecord{Type: JobType, Payload: json.RawMessage(`[]`)}); got != (worker.JobDescription{}) {
		t.Errorf("Describe of a payload that is not an image job's = %+v, want nothing", got)
	}
}
