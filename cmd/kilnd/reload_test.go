package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kiln/api"
	"kiln/kilntype"
	"kiln/worker/image/imageapi"
)

const testSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200"><rect width="300" height="200" fill="teal"/></svg>`

// workerPID runs one picture through pipeline web and returns the worker
// process that decoded it.
func workerPID(t *testing.T, e *env, pic string) int {
	t.Helper()
	j, err := e.client().Submit(context.Background(), imageapi.Request("web", pic))
	if err != nil {
		t.Fatal(err)
	}
	done := e.finished(t, j.ID)
	if done.State != kilntype.StateSucceeded {
		t.Fatalf("job %s: %s %q", j.ID, done.State, done.LastError)
	}
	res, err := imageapi.ParseResult(done.Result)
	if err != nil || res.WorkerPID == 0 {
		t.Fatalf("job %s result %s: %v", j.ID, done.Result, err)
	}
	return res.WorkerPID
}

func processExists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// A reload that blocks untrusted loaders holds for the very next job: the
// submit-time check refuses an SVG at once, no worker started under the old
// setting is left idle, and an SVG job accepted before the reload fails in
// a worker that libvips started with the loaders blocked.
func TestReloadBlockingSVGReachesEveryWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	allowing := e.configText("", "\n[images]\nallow_untrusted_loaders = true\n")
	e.writeConfig(t, allowing)
	e.start(t)
	ctx := context.Background()
	svg := filepath.Join(e.pics, "drawing.svg")
	if err := os.WriteFile(svg, []byte(testSVG), 0o644); err != nil {
		t.Fatal(err)
	}
	oldWorker := workerPID(t, e, svg) // allowed: the worker renders it

	if err := e.client().Pause(ctx, "images"); err != nil {
		t.Fatal(err)
	}
	accepted, err := e.client().Submit(ctx, imageapi.Request("web", svg))
	if err != nil {
		t.Fatalf("SVG while allowed: %v", err)
	}

	e.writeConfig(t, strings.Replace(allowing, "allow_untrusted_loaders = true", "allow_untrusted_loaders = false", 1))
	if _, err := e.client().Reload(ctx); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if processExists(oldWorker) {
		t.Errorf("worker %d, started with untrusted loaders allowed, is still there after the reload", oldWorker)
	}
	_, err = e.client().Submit(ctx, imageapi.Request("web", svg))
	var refused *api.RequestError
	if !errors.As(err, &refused) || refused.Status != 400 || !strings.Contains(refused.Message, "payload.input: ") {
		t.Fatalf("SVG right after the reload: %v; want a 400 naming payload.input", err)
	}

	if err := e.client().Resume(ctx, "images"); err != nil {
		t.Fatal(err)
	}
	if j := e.finished(t, accepted.ID); j.State != kilntype.StateDead || !strings.Contains(j.LastError, "blocked by [images] allow_untrusted_loaders = false") {
		t.Fatalf("SVG accepted before the reload: %s %q; want dead, the loader policy named", j.State, j.LastError)
	}
	if pid := workerPID(t, e, e.picture(t, "after.jpg", 300, 200)); pid == oldWorker {
		t.Fatalf("a JPEG after the reload ran in the old worker %d", pid)
	}
}

// recycle_after changed by a reload applies to the workers at once.
func TestReloadRecycleAfterReachesWorkers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(t)
	pic := e.picture(t, "r.jpg", 300, 200)
	first, second := workerPID(t, e, pic), workerPID(t, e, pic)
	if first != second {
		t.Fatalf("default recycle_after: jobs ran in workers %d and %d, want one worker", first, second)
	}
	e.writeConfig(t, e.configText("", "\n[images]\nrecycle_after = 1\n"))
	if _, err := e.client().Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	a, b := workerPID(t, e, pic), workerPID(t, e, pic)
	if a == first || a == b {
		t.Fatalf("recycle_after = 1 after reload: workers %d then %d (before: %d); want a new worker for each job", a, b, first)
	}
}
