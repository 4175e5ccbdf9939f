package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"kiln/api"
	"kiln/worker"
)

// A store file that is not a kiln store (corrupt, or something else) stops
// kilnd with a message naming it, and is left exactly as it was.
func TestCorruptStoreRefusesToStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	os.MkdirAll(e.state, 0o750)
	store := filepath.Join(e.state, "queue.db")
	garbage := bytes.Repeat([]byte("this is not a queue store\n"), 1000)
	os.WriteFile(store, garbage, 0o600)
	out, err := execKilnd(t, "-config", e.config)
	if code := exitCode(err); code != 1 || !strings.Contains(out, "open queue "+store) {
		t.Fatalf("kilnd on a corrupt store: exit %d, %q", code, out)
	}
	if after, _ := os.ReadFile(store); !bytes.Equal(after, garbage) {
		t.Fatal("kilnd changed the corrupt store file")
	}
}

// With the state directory on a full filesystem, submits fail with "no
// space", nothing stored is lost, and once space is freed the running daemon
// takes submits again by itself.
func TestFullDiskSubmitsFailThenRecover(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs to fill needs root; make test runs as root")
	}
	e := newEnv(t)
	os.MkdirAll(e.state, 0o750)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", e.state).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", e.state).Run() })
	filler := filepath.Join(e.state, "filler")
	os.WriteFile(filler, make([]byte, 2<<20), 0o600)
	e.writeConfig(t, e.configText("", "\n[queues.q]\nconcurrency = 1\n"))
	e.start(t)
	ctx := context.Background()
	c := e.client()
	c.Pause(ctx, "q")

	payload := []byte(`{"data":"` + strings.Repeat("x", 4000) + `"}`)
	var acked []string
	var full *api.RequestError
	for i := 0; i < 5000; i++ {
		j, err := c.Submit(ctx, api.SubmitRequest{Type: "noop", Queue: "q", Payload: payload})
		if err != nil {
			if !errors.As(err, &full) {
				t.Fatal(err)
			}
			break
		}
		acked = append(acked, j.ID)
	}
	if full == nil || full.Status != 503 || !strings.Contains(full.Message, "no space left on device") {
		t.Fatalf("submit on a full disk: %v", full)
	}
	t.Logf("%d jobs stored, then: %s", len(acked), full.Message)

	os.Remove(filler)
	if _, err := c.Submit(ctx, api.SubmitRequest{Type: "noop", Queue: "q"}); err != nil {
		t.Fatalf("submit after space was freed: %v", err)
	}
	c.Resume(ctx, "q")
	for _, id := range acked {
		if j := e.finished(t, id); j.State != worker.StateSucceeded {
			t.Fatalf("job %s stored before the disk filled ended %s", id, j.State)
		}
	}
}
