package local

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"kiln/worker"
)

// mountTmpfs mounts a small tmpfs for the test: a real filesystem that
// really fills up.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs to fill needs root; make test runs as root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func TestFullDiskRefusesSubmitsAndRecovers(t *testing.T) {
	t.Parallel()
	dir := mountTmpfs(t, "6m")
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	payload, _ := json.Marshal(map[string]string{"data": strings.Repeat("x", 1000)})

	var acked []string
	var fullErr error
	for i := 0; i < 100000; i++ {
		j := &worker.JobRecord{Queue: "q", Type: "t", Payload: payload, MaxAttempts: 1}
		if _, err := s.Submit(ctx, j); err != nil {
			fullErr = err
			break
		}
		acked = append(acked, j.ID)
	}
	if fullErr == nil {
		t.Fatal("the filesystem never filled")
	}
	if !strings.Contains(fullErr.Error(), "no space left on device") || !strings.Contains(fullErr.Error(), path) {
		t.Fatalf("full-disk error %q does not say so, or which store", fullErr)
	}
	t.Logf("%d jobs stored before the disk filled; then: %v", len(acked), fullErr)

	check := func(stage string) {
		t.Helper()
		for _, id := range acked {
			if _, err := s.Get(ctx, id); err != nil {
				t.Fatalf("%s: acknowledged job %s: %v", stage, id, err)
			}
		}
		if err := s.db.View(func(tx *bbolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		}); err != nil {
			t.Fatalf("%s: store check: %v", stage, err)
		}
	}
	check("while full")

	// Space comes back: the same open store takes submits again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		j := &worker.JobRecord{Queue: "q", Type: "t", Payload: payload, MaxAttempts: 1}
		if _, err := s.Submit(ctx, j); err != nil {
			t.Fatalf("submit after space was freed: %v", err)
		}
		acked = append(acked, j.ID)
	}
	check("after recovery")

	s.Close()
	s, err = Open(path, nil)
	if err != nil {
		t.Fatalf("reopen after a full disk: %v", err)
	}
	check("after reopen")
	st, _ := s.Stats(ctx)
	if st["q"].Counts[worker.StateQueued] != len(acked) {
		t.Fatalf("%d queued after reopen, want %d", st["q"].Counts[worker.StateQueued], len(acked))
	}
}
