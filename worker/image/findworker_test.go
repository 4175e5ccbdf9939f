package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindWorkerTakesTheWorkerBesideTheDaemon(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "kilnd")
	worker := filepath.Join(dir, WorkerBinary)
	for _, p := range []string{exe, worker} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := FindWorker(exe); got != worker || err != nil {
		t.Errorf("FindWorker(%s) = %q, %v; want %q", exe, got, err, worker)
	}
}

// Without a runnable worker beside kilnd, the installed one if this
// machine has it, else an error that names both places: kilnd has no
// libvips to decode pictures with itself.
func TestFindWorkerSkipsAWorkerFileThatCannotRun(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "kilnd")
	worker := filepath.Join(dir, WorkerBinary)
	if err := os.WriteFile(worker, []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := FindWorker(exe)
	if fi, serr := os.Stat(InstalledWorker); serr == nil && fi.Mode()&0o111 != 0 {
		if got != InstalledWorker || err != nil {
			t.Errorf("FindWorker(%s) = %q, %v; want %q", exe, got, err, InstalledWorker)
		}
		return
	}
	if got != "" || err == nil || !strings.Contains(err.Error(), worker) || !strings.Contains(err.Error(), InstalledWorker) {
		t.Errorf("FindWorker(%s) = %q, %v; want an error naming %s and %s", exe, got, err, worker, InstalledWorker)
	}
}
