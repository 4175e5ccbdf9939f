package main

import (
	"strings"
	"testing"
)

// kilnctl completes the pipelines the running kilnd runs, as its status
// answers them: a pipeline written into the file is offered once a reload
// has put it in effect, not before.
func TestCompletePipelinesAsksTheDaemon(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.start(t)
	if r := e.kilnctl(t, "complete", "pipelines"); r.code != 0 || r.stdout != "web\n" {
		t.Fatalf("complete pipelines: exit %d, %q %q; want web", r.code, r.stdout, r.stderr)
	}
	e.writeConfig(t, e.configText("", "\n[pipelines.small]\nqueue = \"images\"\noutput_dir = \""+e.out+"/small\"\n[[pipelines.small.variants]]\nname = \"tiny\"\nwidth = 32\n"))
	if r := e.kilnctl(t, "complete", "pipelines"); r.stdout != "web\n" {
		t.Errorf("complete pipelines before the reload: %q; want only the pipeline in effect", r.stdout)
	}
	if r := e.kilnctl(t, "reload"); r.code != 0 {
		t.Fatalf("reload: exit %d %s", r.code, r.stderr)
	}
	if r := e.kilnctl(t, "complete", "pipelines"); r.stdout != "small\nweb\n" {
		t.Errorf("complete pipelines after the reload: %q", r.stdout)
	}
	if r := e.kilnctl(t, "complete", "variants"); r.code == 0 || !strings.Contains(r.stderr, `cannot complete "variants"`) {
		t.Errorf("complete of what no kind names: exit %d, %q", r.code, r.stderr)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("kilnd exit %d", code)
	}
}
