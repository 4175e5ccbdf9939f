package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/worker/image"
)

// kilnd decodes no picture itself: without a worker binary beside it (nor
// an installed one), or with one that does not run, -check-config and a
// start refuse the config alike, naming the binary.
func TestImageWorkerThatCannotRunIsAConfigError(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(image.InstalledWorker); err == nil {
		t.Skipf("%s is installed: every kilnd finds it", image.InstalledWorker)
	}
	e := newEnv(t)
	e.writeConfig(t, e.configText("", ""))
	lone := filepath.Join(t.TempDir(), "kilnd")
	if err := os.Link(kilndPath(), lone); err != nil {
		b, rerr := os.ReadFile(kilndPath())
		if rerr != nil || os.WriteFile(lone, b, 0o755) != nil {
			t.Fatalf("copy kilnd to %s: %v, %v", lone, err, rerr)
		}
	}
	beside := filepath.Join(filepath.Dir(lone), image.WorkerBinary)
	run := func(args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, lone, args...)
		cmd.Env = withoutNotify(os.Environ())
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("kilnd %s was still running after 30s, output:\n%s", strings.Join(args, " "), out)
		}
		return string(out), exitCode(err)
	}
	for _, c := range []struct {
		name, worker, want string
	}{
		{"missing", "", "images: find image worker: neither " + beside + " nor " + image.InstalledWorker + " is an executable file"},
		{"failing", "#!/bin/sh\necho 'cannot start' >&2\nexit 3\n", "images: probe image worker " + beside + ": exit status 3: cannot start"},
	} {
		if c.worker != "" {
			if err := os.WriteFile(beside, []byte(c.worker), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, args := range [][]string{{"-check-config", "-config", e.config}, {"-config", e.config}} {
			out, code := run(args...)
			if code != 78 || !strings.Contains(out, c.want) {
				t.Errorf("%s worker: kilnd %s: exit %d\n%s\nwant 78 and %q", c.name, strings.Join(args, " "), code, out, c.want)
			}
		}
	}
}
