package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kiln/api"
	"kiln/worker"
)

// fileSnapshot is a file's bytes and inode, to show that kilnd left it as
// it was: not rewritten, not replaced, not removed.
type fileSnapshot struct {
	path  string
	data  []byte
	inode uint64
}

func snapshot(t *testing.T, path string) fileSnapshot {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileSnapshot{path, data, fi.Sys().(*syscall.Stat_t).Ino}
}

func (s fileSnapshot) unchanged(t *testing.T, after string) {
	t.Helper()
	data, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatalf("%s: %s is gone: %v", after, s.path, err)
	}
	fi, err := os.Lstat(s.path)
	if err != nil {
		t.Fatal(err)
	}
	if ino := fi.Sys().(*syscall.Stat_t).Ino; ino != s.inode {
		t.Fatalf("%s: %s was replaced (inode %d, was %d)", after, s.path, ino, s.inode)
	}
	if !bytes.Equal(data, s.data) {
		t.Fatalf("%s: %s was changed (%d bytes, was %d)", after, s.path, len(data), len(s.data))
	}
}

// runKilnd runs kilnd to its exit and returns its output and exit code. A
// kilnd that is still running at the deadline has started where it should
// have refused: it is killed and the test fails.
func runKilnd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return runKilndWith(t, nil, args...)
}

// runKilndWith is runKilnd with extraEnv added to kilnd's environment.
func runKilndWith(t *testing.T, extraEnv []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kilndPath(), args...)
	cmd.Env = append(withoutNotify(os.Environ()), extraEnv...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("kilnd %s was still running after 30s, output:\n%s", strings.Join(args, " "), out)
	}
	return string(out), exitCode(err)
}

// queuePausedJobs starts kilnd, queues n noop jobs on the paused images
// queue, stops it cleanly, and returns their IDs.
func queuePausedJobs(t *testing.T, e *env, n int) []string {
	t.Helper()
	d := e.start(t)
	ctx := context.Background()
	if err := e.client().Pause(ctx, "images"); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range n {
		sub, err := e.client().Submit(ctx, api.SubmitRequest{Type: "noop", Queue: "images"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sub.ID)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("kilnd stop: exit %d", code)
	}
	return ids
}

// A typo that points daemon.socket or daemon.pidfile at a file kiln did
// not create (the queue itself, the config file, anyone's file) is refused
// by -check-config and by a start, both exit 78 naming the key and the
// file, and the file is left as it was. With the config fixed, every job
// accepted before is still there and runs.
func TestTypoPathsLoseNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := queuePausedJobs(t, e, 4)
	good := e.configText("", "")
	store := filepath.Join(e.state, "queue.db")
	notes := filepath.Join(e.dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("an operator's notes, not a pidfile\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, key, old, typo string
	}{
		{"SocketIsTheQueue", "daemon.socket", e.socket, store},
		{"SocketIsTheConfig", "daemon.socket", e.socket, e.config},
		{"PidfileIsAnotherFile", "daemon.pidfile", e.pid, notes},
		{"PidfileIsTheQueue", "daemon.pidfile", e.pid, store},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.writeConfig(t, strings.Replace(good, c.key[len("daemon."):]+" = \""+c.old+"\"", c.key[len("daemon."):]+" = \""+c.typo+"\"", 1))
			kept := []fileSnapshot{snapshot(t, store), snapshot(t, e.config), snapshot(t, notes)}

			out, code := runKilnd(t, "-check-config", "-config", e.config)
			if code != 78 || !strings.Contains(out, c.key+": "+c.typo+" ") {
				t.Fatalf("-check-config: exit %d, output %q; want 78 naming %s and %s", code, out, c.key, c.typo)
			}
			checked := strings.TrimSpace(out)
			for _, s := range kept {
				s.unchanged(t, "-check-config")
			}

			out, code = runKilnd(t, "-config", e.config)
			if code != 78 || !strings.Contains(out, checked) {
				t.Fatalf("start: exit %d, output %q; want 78 with -check-config's message %q", code, out, checked)
			}
			for _, s := range kept {
				s.unchanged(t, "start")
			}
		})
	}

	e.writeConfig(t, good)
	e.start(t)
	if err := e.client().Resume(context.Background(), "images"); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if j := e.finished(t, id); j.State != worker.StateSucceeded {
			t.Errorf("job %s accepted before the typos ended %s", id, j.State)
		}
	}
}

// A second kilnd on the same state_dir, with a pidfile and socket of its
// own, is refused before it opens the store: exit 69 naming the PID that
// holds it, and nothing of the first one's is touched.
func TestSecondKilndOnSameStateNamesHolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.start(t)
	second := filepath.Join(e.dir, "second.toml")
	otherPid, otherSocket := filepath.Join(e.dir, "run2", "kilnd.pid"), filepath.Join(e.dir, "run2", "kiln.sock")
	text := strings.Replace(e.configText("", ""), "pidfile = \""+e.pid+"\"", "pidfile = \""+otherPid+"\"", 1)
	text = strings.Replace(text, "socket = \""+e.socket+"\"", "socket = \""+otherSocket+"\"", 1)
	if err := os.WriteFile(second, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// The first kilnd writes its store as it runs: only the file itself
	// must stay, its bytes may not.
	store := snapshot(t, filepath.Join(e.state, "queue.db"))
	kept := []fileSnapshot{snapshot(t, e.pid), snapshot(t, e.config)}

	began := time.Now()
	out, code := runKilnd(t, "-config", second)
	took := time.Since(began)
	want := "another kilnd is already running (pid " + itoa(first.cmd.Process.Pid) + " holds " + filepath.Join(e.state, "kilnd.lock") + ")"
	if code != 69 || !strings.Contains(out, want) {
		t.Fatalf("second kilnd: exit %d, output %q; want 69 and %q", code, out, want)
	}
	if strings.Contains(out, "timeout") {
		t.Fatalf("second kilnd waited for the store's lock: %q (after %s)", out, took)
	}
	for _, s := range kept {
		s.unchanged(t, "second kilnd")
	}
	if fi, err := os.Lstat(store.path); err != nil || fi.Sys().(*syscall.Stat_t).Ino != store.inode {
		t.Fatalf("second kilnd: the store %s was replaced or removed (%v)", store.path, err)
	}
	if _, err := os.Lstat(otherPid); !os.IsNotExist(err) {
		t.Errorf("second kilnd left its own pidfile behind: %v", err)
	}
	if r := e.kilnctl(t, "status"); r.code != 0 {
		t.Fatalf("first kilnd no longer answers: %q", r.stderr)
	}
}
