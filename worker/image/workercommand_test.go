package image

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWorkerCommandTakesTheWorkerBesideTheDaemon(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "kilnd")
	worker := filepath.Join(dir, WorkerBinary)
	for _, p := range []string{exe, worker} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got := WorkerCommand(exe); !slices.Equal(got, []string{worker}) {
		t.Errorf("WorkerCommand(%s) = %q, want %q", exe, got, []string{worker})
	}
}

func TestWorkerCommandSkipsAWorkerFileThatCannotRun(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "kilnd")
	worker := filepath.Join(dir, WorkerBinary)
	if err := os.WriteFile(worker, []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := WorkerCommand(exe)
	// Without a runnable worker beside it: the installed one if this
	// machine has it, else kilnd itself as a worker.
	want := []string{exe, WorkerArg}
	if fi, err := os.Stat(InstalledWorker); err == nil && fi.Mode()&0o111 != 0 {
		want = []string{InstalledWorker}
	}
	if !slices.Equal(got, want) {
		t.Errorf("WorkerCommand(%s) = %q, want %q", exe, got, want)
	}
}
