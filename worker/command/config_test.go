package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/worker"
)

func TestCheckRefusesProgramsThatCannotRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := script(t, dir, "ok", "exit 0\n")
	noExec := filepath.Join(dir, "noexec")
	os.WriteFile(noExec, []byte("#!/bin/sh\n"), 0o644)
	badInterp := filepath.Join(dir, "badinterp")
	os.WriteFile(badInterp, []byte("#!/nonexistent/python3 -u\nprint(1)\n"), 0o755)
	for _, tc := range []struct {
		name, prog, want string
	}{
		{"relative", "bin/upload", `"bin/upload" must be an absolute path (programs are never looked up in PATH)`},
		{"bare name", "true", `"true" must be an absolute path (programs are never looked up in PATH)`},
		{"missing", filepath.Join(dir, "missing"), filepath.Join(dir, "missing") + ": no such file or directory"},
		{"directory", dir, dir + ": is not a regular file"},
		{"not executable", noExec, noExec + ": is not executable by this user (mode -rw-r--r--)"},
		{"interpreter missing", badInterp, badInterp + ": its interpreter: /nonexistent/python3: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckProgram(tc.prog)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("CheckProgram(%s) = %v, want %s", tc.prog, err, tc.want)
			}
		})
	}
	if err := CheckProgram(ok); err != nil {
		t.Fatalf("CheckProgram(a runnable script) = %v", err)
	}
	if err := CheckProgram("/bin/true"); err != nil {
		t.Fatalf("CheckProgram(/bin/true) = %v", err)
	}
}

func TestCheckReportsEveryProblemByKey(t *testing.T) {
	t.Parallel()
	cfg := Config{
		Command:     []string{"upload"},
		Queue:       "nowhere",
		Timeout:     -1,
		MaxAttempts: -1,
		KillGrace:   -1,
		Env:         []string{"GOOD=1", "novalue", "KILN_JOB_ID=x", "GOOD=2", "=x"},
		WorkingDir:  "/nonexistent/dir",
	}
	got := cfg.Check("up", map[string]worker.QueueConfig{"default": {}})
	want := []string{
		`commands.up.command: "upload" must be an absolute path (programs are never looked up in PATH)`,
		`commands.up.queue: queue "nowhere" is not configured (add a [queues.nowhere] table)`,
		`commands.up.timeout: must not be negative (0 leaves it to the queue)`,
		`commands.up.max_attempts: must not be negative (0 leaves it to the queue)`,
		`commands.up.kill_grace: must not be negative (0 sends SIGKILL right after SIGTERM)`,
		`commands.up.env[1]: "novalue" is not KEY=value`,
		`commands.up.env[2]: KILN_JOB_ID is set by kiln for every job and cannot be configured`,
		`commands.up.env[3]: GOOD is already set by env[0]`,
		`commands.up.env[4]: "=x" is not KEY=value`,
		`commands.up.working_dir: /nonexistent/dir: no such file or directory`,
	}
	var lines []string
	for _, p := range got {
		lines = append(lines, p.Key+": "+p.Msg)
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	if p := (&Config{}).Check("empty", nil); len(p) != 1 || p[0].Key != "commands.empty.command" {
		t.Fatalf("a table without command: %+v", p)
	}
	if p := (&Config{Command: []string{"/bin/true"}}).Check("bad name!", nil); len(p) != 1 || p[0].Key != "commands.bad name!" {
		t.Fatalf("a bad name: %+v", p)
	}
	if p := (&Config{Command: []string{"/bin/true"}, Env: []string{"A=b"}, WorkingDir: "/"}).Check("fine", nil); len(p) != 0 {
		t.Fatalf("a good table: %+v", p)
	}
	short := map[string]worker.QueueConfig{"quick": {Timeout: worker.Duration(3 * time.Second)}}
	if p := (&Config{Command: []string{"/bin/true"}, Queue: "quick", KillGrace: worker.Duration(5 * time.Second)}).Check("slow", short); len(p) != 1 ||
		p[0].Key+": "+p[0].Msg != `commands.slow.kill_grace: must be shorter than the timeout of queue "quick" (3s), which bounds the program's stop too` {
		t.Fatalf("a kill_grace longer than the queue's timeout: %+v", p)
	}
}
