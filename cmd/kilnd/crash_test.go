package main

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"kiln/worker"
	"kiln/worker/image/imageapi"
)

// Jobs accepted before a kill -9 all complete after a restart, each with
// exactly one set of outputs; only the jobs running at the moment of a kill
// run again.
func TestKill9AndRestartLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const jobs, cycles = 24, 3
	// Enough attempts that a job caught by every kill still succeeds; a
	// job may ask for no more than its queue allows.
	e.writeConfig(t, strings.Replace(e.configText("", ""), "max_attempts = 3", "max_attempts = "+itoa(cycles+2), 1))
	pics := make([]string, 4)
	for i := range pics {
		pics[i] = e.picture(t, "p"+itoa(i)+".jpg", 1600, 1200)
	}

	d := e.start(t)
	ctx := context.Background()
	var ids []string
	for i := 0; i < jobs; i++ {
		req := imageapi.Request("web", pics[i%len(pics)])
		req.MaxAttempts = cycles + 2
		j, err := e.client().Submit(ctx, req)
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
		ids = append(ids, j.ID) // acknowledged: must not be lost
	}

	for c := 0; c < cycles; c++ {
		// Kill while work is under way: once a few more jobs are done and
		// some are running.
		target := (c + 1) * jobs / (cycles + 2)
		waitProgress(t, e, target)
		d.kill(t)
		d = e.start(t)
	}

	reruns := 0
	for _, id := range ids {
		j := e.finished(t, id)
		if j.State != worker.StateSucceeded {
			t.Errorf("job %s ended %s: %s", id, j.State, j.LastError)
			continue
		}
		if j.Attempts > 1 {
			reruns++
		}
		entries, err := os.ReadDir(filepath.Join(e.out, id))
		if err != nil {
			t.Errorf("job %s: outputs: %v", id, err)
			continue
		}
		var names []string
		for _, en := range entries {
			names = append(names, en.Name())
		}
		sort.Strings(names)
		if strings.Join(names, ",") != "thumb.webp,w400.jpg" {
			t.Errorf("job %s: output dir holds %v, want exactly thumb.webp and w400.jpg", id, names)
		}
	}
	dirs, _ := os.ReadDir(e.out)
	if len(dirs) != jobs {
		t.Errorf("%d output dirs for %d jobs", len(dirs), jobs)
	}
	// At most the jobs running at each kill (concurrency 2) ran twice.
	if reruns > 2*cycles {
		t.Errorf("%d jobs ran more than once; at most %d were running at the kills", reruns, 2*cycles)
	}
	t.Logf("%d jobs, %d kill -9 cycles: all succeeded; %d ran again after being interrupted", jobs, cycles, reruns)
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// waitProgress waits until at least n jobs have succeeded.
func waitProgress(t *testing.T, e *env, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := e.client().Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Queues["images"].Counts[worker.StateSucceeded] >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d jobs done, waiting for %d", st.Queues["images"].Counts[worker.StateSucceeded], n)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not timing
	}
}
