// These tests drive the real kilnd and kilnctl binaries, built once in
// TestMain, each against its own state, socket and pidfile in a temp dir.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kiln/api"
	"kiln/daemon/sdnotify"
	"kiln/e2e/instance"
	"kiln/worker/image/imagetest"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := instance.BuildBinaries("kilnd-test-bin-", raceEnabled)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func kilndPath() string   { return filepath.Join(binDir, "kilnd") }
func kilnctlPath() string { return filepath.Join(binDir, "kilnctl") }

// env is one test's directory layout and config.
type env struct {
	dir    string
	config string
	socket string
	pid    string
	state  string
	out    string
	pics   string
}

// configText returns a config for this env; extra is appended (more
// pipelines, or a [log] table).
func (e *env) configText(logTable string, extra string) string {
	if logTable == "" {
		logTable = "[log]\ntarget = \"stderr\"\nlevel = \"debug\"\n"
	}
	extra = withPictureRoot(extra, e.pics)
	return fmt.Sprintf(`[daemon]
state_dir = %q
pidfile = %q
socket = %q
shutdown_timeout = "10s"

%s
[queues.images]
concurrency = 2
max_attempts = 3
backoff_base = "10ms"
backoff_max = "50ms"

[pipelines.web]
queue = "images"
output_dir = %q

[[pipelines.web.variants]]
name = "w400"
width = 400
format = "jpeg"
quality = 80

[[pipelines.web.variants]]
name = "thumb"
width = 100
height = 100
format = "webp"
%s`, e.state, e.pid, e.socket, logTable, e.out, extra)
}

// withPictureRoot adds the test's picture directory to [images]
// allowed_input_roots, as an operator adds the directories pictures come
// from: in extra's own [images] table, after its keys so that the lines
// a test expects errors on stay where they are, or in a table of its own.
// An extra that sets allowed_input_roots itself is left as it is.
func withPictureRoot(extra, pics string) string {
	root := fmt.Sprintf("allowed_input_roots = [%q]\n", pics)
	if strings.Contains(extra, "allowed_input_roots") {
		return extra
	}
	i := strings.Index(extra, "[images]\n")
	if i < 0 {
		return extra + "\n[images]\n" + root
	}
	end := len(extra)
	if next := strings.Index(extra[i:], "\n["); next >= 0 {
		end = i + next + 1
	}
	if !strings.HasSuffix(extra[:end], "\n") {
		root = "\n" + root
	}
	return extra[:end] + root + extra[end:]
}

func newEnv(t *testing.T) *env {
	t.Helper()
	// Unix socket paths are limited to 108 bytes: keep the dir short.
	dir, err := os.MkdirTemp("", "kt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &env{
		dir:    dir,
		config: filepath.Join(dir, "kiln.toml"),
		socket: filepath.Join(dir, "run", "kiln.sock"),
		pid:    filepath.Join(dir, "run", "kilnd.pid"),
		state:  filepath.Join(dir, "state"),
		out:    filepath.Join(dir, "out"),
		pics:   filepath.Join(dir, "pics"),
	}
	os.MkdirAll(e.pics, 0o755)
	e.writeConfig(t, e.configText("", ""))
	return e
}

func (e *env) writeConfig(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(e.config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// picture writes a w x h JPEG and returns its path.
func (e *env) picture(t *testing.T, name string, w, h int) string {
	t.Helper()
	path := filepath.Join(e.pics, name)
	if err := os.WriteFile(path, imagetest.JPEG(w, h), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// kilnd is a running kilnd, started as systemd would start it.
type kilnd struct {
	*instance.Process
	cmd    *exec.Cmd
	stderr *instance.LogBuffer
	notify notices
}

// notices are what kilnd sends its service manager after READY=1.
type notices struct{ l *sdnotify.Listener }

// waitFor reads notifications until one has the given line, and returns
// that message.
func (n notices) waitFor(t *testing.T, line string) string {
	t.Helper()
	m, err := n.l.WaitFor(line, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// start runs kilnd on the env's config and returns once it has sent
// READY=1; extraEnv is added to its environment.
func (e *env) start(t *testing.T, extraEnv ...string) *kilnd {
	t.Helper()
	stderr := &instance.LogBuffer{}
	p, err := instance.Launch(kilndPath(), e.config, filepath.Join(e.dir, "notify.sock"), extraEnv, stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	d := &kilnd{Process: p, cmd: p.Cmd, stderr: stderr, notify: notices{p.Notify}}
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.Exited
		p.Notify.Close()
		if t.Failed() {
			t.Logf("kilnd stderr:\n%s", d.stderr.String())
		}
	})
	return d
}

// stop sends SIGTERM and returns the exit code.
func (d *kilnd) stop(t *testing.T) int {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	return d.wait(t)
}

func (d *kilnd) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-d.Exited:
	case <-time.After(60 * time.Second):
		t.Fatal("kilnd did not exit")
	}
	return d.cmd.ProcessState.ExitCode()
}

// kill sends SIGKILL, as a crash would, and waits for the process to go.
func (d *kilnd) kill(t *testing.T) {
	t.Helper()
	d.cmd.Process.Kill()
	<-d.Exited
}

// waitLog waits until kilnd's stderr holds text.
func (d *kilnd) waitLog(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(d.stderr.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("kilnd never logged %q; log:\n%s", text, d.stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not timing
	}
}

// result is what a command did.
type result struct {
	stdout, stderr string
	code           int
}

func (e *env) kilnctl(t *testing.T, args ...string) result {
	t.Helper()
	return e.kilnctlStdin(t, "", args...)
}

// kilnctlStdin runs kilnctl with stdin as its standard input.
func (e *env) kilnctlStdin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(kilnctlPath(), args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "KILN_SOCKET="+e.socket)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return result{out.String(), errOut.String(), cmd.ProcessState.ExitCode()}
}

func (e *env) client() *api.Client { return api.NewClient(e.socket) }

// jobState waits for a job to finish and returns it.
func (e *env) finished(t *testing.T, id string) *api.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		j, err := e.client().Job(ctx, id, 30*time.Second)
		if err != nil {
			t.Fatalf("job %s: %v", id, err)
		}
		if j.State.Terminal() {
			return j
		}
	}
}

func decodeJSONLines[T any](t *testing.T, s string) []T {
	t.Helper()
	var out []T
	dec := json.NewDecoder(strings.NewReader(s))
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("decode %q: %v", s, err)
		}
		out = append(out, v)
	}
	return out
}

// execKilnd runs kilnd to completion and returns its combined output.
func execKilnd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(kilndPath(), args...)
	cmd.Env = withoutNotify(os.Environ())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func withoutNotify(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			out = append(out, kv)
		}
	}
	return out
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

func itoa(n int) string { return fmt.Sprint(n) }
