package command

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"kiln/worker"
)

func TestCommandSucceedsWithJSONResult(t *testing.T) {
	t.Parallel()
	prog := script(t, t.TempDir(), "ok", `echo "working" >&2
printf '{"variants": 3, "name": "ok"}\n'
`)
	log, logged := newLog()
	p := runCommandPool(t, Config{Command: []string{prog}}, fastQueue, log)
	j := p.finished(t, p.submit(t, `{"input":"x"}`).ID)
	if j.State != worker.StateSucceeded || j.Attempts != 1 {
		t.Fatalf("job = %s after %d attempts: %s", j.State, j.Attempts, j.LastError)
	}
	var res struct {
		Variants int    `json:"variants"`
		Name     string `json:"name"`
	}
	if err := json.Unmarshal(j.Result, &res); err != nil || res.Variants != 3 || res.Name != "ok" {
		t.Fatalf("result = %s (%v)", j.Result, err)
	}
	// Standard error goes to the log with the job's ID.
	if l := logged.String(); !strings.Contains(l, "job="+j.ID) || !strings.Contains(l, "line=working") {
		t.Fatalf("log has no stderr line of the job:\n%s", l)
	}
}

func TestCommandTextOutputIsAJSONString(t *testing.T) {
	t.Parallel()
	prog := script(t, t.TempDir(), "text", `echo "uploaded to s3://bucket/key"`)
	p := runCommandPool(t, Config{Command: []string{prog}}, fastQueue, nil)
	j := p.finished(t, p.submit(t, `{}`).ID)
	var s string
	if err := json.Unmarshal(j.Result, &s); err != nil || s != "uploaded to s3://bucket/key\n" {
		t.Fatalf("result = %s (%v)", j.Result, err)
	}
}

func TestCommandTempFailIsRetried(t *testing.T) {
	t.Parallel()
	prog := script(t, t.TempDir(), "tempfail", `if [ "$KILN_ATTEMPT" = 1 ]; then
	echo "storage busy, try later" >&2
	exit 75
fi
echo '{"attempt": '"$KILN_ATTEMPT"'}'
`)
	p := runCommandPool(t, Config{Command: []string{prog}}, fastQueue, nil)
	j := p.finished(t, p.submit(t, `{}`).ID)
	if j.State != worker.StateSucceeded || j.Attempts != 2 || string(j.Result) != `{"attempt": 2}` {
		t.Fatalf("job = %s after %d attempts, result %s", j.State, j.Attempts, j.Result)
	}
	if len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Error, "exit status 75") || !strings.Contains(j.Errors[0].Error, "storage busy, try later") {
		t.Fatalf("errors = %+v", j.Errors)
	}
}

func TestCommandDataErrIsDeadAtOnce(t *testing.T) {
	t.Parallel()
	prog := script(t, t.TempDir(), "dataerr", `echo "reading payload" >&2
echo "payload has no field url" >&2
exit 65
`)
	p := runCommandPool(t, Config{Command: []string{prog}}, fastQueue, nil)
	j := p.finished(t, p.submit(t, `{}`).ID)
	if j.State != worker.StateDead || j.Attempts != 1 {
		t.Fatalf("job = %s after %d attempts (queue allows 3)", j.State, j.Attempts)
	}
	if !strings.HasSuffix(j.LastError, ": payload has no field url") || strings.Contains(j.LastError, "reading payload") {
		t.Fatalf("reason = %q, want the last stderr line alone", j.LastError)
	}
}

func TestCommandOtherExitStatusIsAFailedAttempt(t *testing.T) {
	t.Parallel()
	lines := ""
	for i := 1; i <= 30; i++ {
		lines += "echo line" + strconv.Itoa(i) + " >&2\n"
	}
	prog := script(t, t.TempDir(), "fails", lines+"exit 3\n")
	p := runCommandPool(t, Config{Command: []string{prog}, MaxAttempts: 2}, fastQueue, nil)
	j := p.finished(t, p.submit(t, `{}`).ID)
	// The command's max_attempts (2) is below the queue's (3).
	if j.State != worker.StateDead || j.Attempts != 2 || len(j.Errors) != 2 {
		t.Fatalf("job = %s after %d attempts, errors %+v", j.State, j.Attempts, j.Errors)
	}
	e := j.Errors[0].Error
	if !strings.Contains(e, "exited with status 3") || !strings.Contains(e, "line30") || !strings.Contains(e, "line11") || strings.Contains(e, "line10\n") {
		t.Fatalf("error = %q, want the status and the last 20 stderr lines", e)
	}
}

func TestCommandKilledBySignalNamesIt(t *testing.T) {
	t.Parallel()
	prog := script(t, t.TempDir(), "segv", `echo "about to crash" >&2
kill -SEGV $$
`)
	p := runCommandPool(t, Config{Command: []string{prog}, MaxAttempts: 1}, fastQueue, nil)
	j := p.finished(t, p.submit(t, `{}`).ID)
	if j.State != worker.StateDead || !strings.Contains(j.LastError, "killed by SIGSEGV") || !strings.Contains(j.LastError, "about to crash") {
		t.Fatalf("job = %s: %q", j.State, j.LastError)
	}
}

// A program that outlives its timeout is stopped with its whole group,
// grandchildren too; one that ignores SIGTERM gets SIGKILL after the
// grace.
func TestCommandTimeoutEndsTheWholeGroup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, trap, ended string
	}{
		{"term", "", "ended with SIGTERM"},
		{"kill", "trap '' TERM\n", "ended with SIGKILL after 200ms of SIGTERM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			prog := script(t, dir, "sleeper", tc.trap+`echo $$ > "$1/pgid"
sleep 300 &
echo $! > "$1/grandchild"
sleep 300
`)
			cfg := Config{Command: []string{prog, dir}, Timeout: worker.Duration(300 * time.Millisecond), KillGrace: worker.Duration(200 * time.Millisecond), MaxAttempts: 1}
			p := runCommandPool(t, cfg, fastQueue, nil)
			j := p.finished(t, p.submit(t, `{}`).ID)
			if j.State != worker.StateDead || !strings.Contains(j.LastError, "timed out after 300ms") || !strings.Contains(j.LastError, tc.ended) {
				t.Fatalf("job = %s: %q", j.State, j.LastError)
			}
			pgid := atoi(t, readFile(t, filepath.Join(dir, "pgid")))
			grandchild := atoi(t, readFile(t, filepath.Join(dir, "grandchild")))
			if left := processesInGroup(t, pgid); len(left) > 0 {
				t.Fatalf("processes %v of group %d survived the job", left, pgid)
			}
			if alive(grandchild) {
				t.Fatalf("grandchild %d survived the job", grandchild)
			}
		})
	}
}

func TestCommandPayloadEnvAndTempDir(t *testing.T) {
	// Not parallel: it sets a variable in the test's own environment, to
	// show that the program does not see it.
	t.Setenv("KILN_TEST_SECRET", "must-not-leak")
	dir := t.TempDir()
	prog := script(t, dir, "env", `tr '\0' '\n' < /proc/$$/environ | sort > "$1/environ"
cat > "$1/stdin"
pwd > "$1/pwd"
mkdir -p locked/deep && touch locked/deep/file && chmod 000 locked
echo "$TMPDIR"
`)
	cfg := Config{Command: []string{prog, dir}, Env: []string{"BUCKET=photos", "LANG=C.UTF-8"}}
	p := runCommandPool(t, cfg, fastQueue, nil)
	j := p.finished(t, p.submit(t, `{"input": "/srv/a.jpg", "n": 1}`).ID)
	if j.State != worker.StateSucceeded {
		t.Fatalf("job = %s: %s", j.State, j.LastError)
	}
	if got := readFile(t, filepath.Join(dir, "stdin")); got != `{"input": "/srv/a.jpg", "n": 1}` {
		t.Fatalf("stdin = %q", got)
	}
	var tmp string
	if err := json.Unmarshal(j.Result, &tmp); err != nil {
		t.Fatal(err)
	}
	tmp = strings.TrimSpace(tmp)
	want := strings.Join([]string{
		"BUCKET=photos", "KILN_ATTEMPT=1", "KILN_JOB_ID=" + j.ID, "KILN_QUEUE=default",
		"LANG=C.UTF-8", "PATH=" + DefaultPath, "TMPDIR=" + tmp,
	}, "\n") + "\n"
	if got := readFile(t, filepath.Join(dir, "environ")); got != want {
		t.Fatalf("environment:\n%s\nwant exactly:\n%s", got, want)
	}
	if filepath.Dir(tmp) != p.temp || !strings.HasPrefix(filepath.Base(tmp), "kiln-job-"+j.ID+"-") {
		t.Fatalf("TMPDIR = %s, want a directory of the job under %s", tmp, p.temp)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(dir, "pwd"))); got != tmp {
		t.Fatalf("working directory = %s, want %s", got, tmp)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("temporary directory %s still there: %v", tmp, err)
	}
	if entries, _ := os.ReadDir(p.temp); len(entries) != 0 {
		t.Fatalf("left under the temporary root: %v", entries)
	}
}

func TestCommandWorkingDirAndOwnPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prog := script(t, dir, "wd", `printf '{"pwd":"%s","path":"%s"}' "$(pwd)" "$PATH"`)
	p := runCommandPool(t, Config{Command: []string{prog}, WorkingDir: dir, Env: []string{"PATH=/bin"}}, fastQueue, nil)
	j := p.finished(t, p.submit(t, `{}`).ID)
	var got struct{ PWD, Path string }
	if err := json.Unmarshal(j.Result, &got); err != nil || got.PWD != dir || got.Path != "/bin" {
		t.Fatalf("result = %s (%v)", j.Result, err)
	}
}

func TestCommandProgressShowsWhileRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prog := script(t, dir, "progress", `echo "progress 40" >&3
touch "$1/at40"
while [ ! -e "$1/go" ]; do sleep 0.01; done
echo "progress 3/4" >&3
touch "$1/at3of4"
while [ ! -e "$1/end" ]; do sleep 0.01; done
`)
	p := runCommandPool(t, Config{Command: []string{prog, dir}}, fastQueue, nil)
	j := p.submit(t, `{}`)
	waitProgress := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if pr, ok := p.pool.Progress(j.ID); ok && pr.String() == want {
				return
			}
			if time.Now().After(deadline) {
				pr, ok := p.pool.Progress(j.ID)
				t.Fatalf("progress = %v (%v), want %s", pr, ok, want)
			}
			time.Sleep(5 * time.Millisecond) // polling a condition, not timing
		}
	}
	waitFile(t, filepath.Join(dir, "at40"))
	waitProgress("40%")
	os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
	waitFile(t, filepath.Join(dir, "at3of4"))
	waitProgress("3/4 (75%)")
	os.WriteFile(filepath.Join(dir, "end"), nil, 0o644)
	if got := p.finished(t, j.ID); got.State != worker.StateSucceeded {
		t.Fatalf("job = %s: %s", got.State, got.LastError)
	}
}

func TestCommandOutputCutAtLimit(t *testing.T) {
	t.Parallel()
	prog := script(t, t.TempDir(), "big", `head -c 1048576 /dev/zero | tr '\0' 'a'
echo "done" >&2
`)
	p := runCommandPool(t, Config{Command: []string{prog}}, fastQueue, nil)
	j := p.finished(t, p.submit(t, `{}`).ID)
	if j.State != worker.StateSucceeded {
		t.Fatalf("job = %s: %s", j.State, j.LastError)
	}
	var s string
	if err := json.Unmarshal(j.Result, &s); err != nil {
		t.Fatal(err)
	}
	marker := "\n[kiln: output cut at 65536 of 1048576 bytes]"
	if !strings.HasSuffix(s, marker) || len(s) != OutputLimit+len(marker) || strings.Trim(s[:OutputLimit], "a") != "" {
		t.Fatalf("result: %d bytes ending %q", len(s), s[max(0, len(s)-80):])
	}
}

func TestCommandAdmitPicksItsQueue(t *testing.T) {
	t.Parallel()
	k := NewKind("upload", func() (Config, bool) { return Config{Command: []string{"/bin/true"}, Queue: "uploads"}, true }, Options{DefaultQueue: "default"})
	if q, err := k.Admit(json.RawMessage(`{"a":1}`)); err != nil || q != "uploads" {
		t.Fatalf("Admit = %q, %v", q, err)
	}
	k = NewKind("gone", func() (Config, bool) { return Config{}, false }, Options{})
	if _, err := k.Admit(json.RawMessage(`{}`)); err == nil {
		t.Fatal("a command no longer configured admitted a job")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, r := range strings.TrimSpace(s) {
		if r < '0' || r > '9' {
			t.Fatalf("%q is not a number", s)
		}
		n = 10*n + int(r-'0')
	}
	return n
}

// A program is stopped soon enough to be gone when its queue's timeout
// runs out, kill_grace included, so that the pool never sees its handler
// outlive the attempt.
func TestCommandStoppedWithinTheQueueTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prog := script(t, dir, "stubborn", `trap '' TERM
echo $$ > "$1/pgid"
sleep 300
`)
	q := fastQueue
	q.Timeout = worker.Duration(time.Second)
	q.MaxAttempts = 1
	p := runCommandPool(t, Config{Command: []string{prog, dir}, KillGrace: worker.Duration(400 * time.Millisecond)}, q, nil)
	j := p.finished(t, p.submit(t, `{}`).ID)
	want := "timed out (SIGTERM 500ms before the attempt's timeout, to be gone by then): ended with SIGKILL after 400ms of SIGTERM"
	if j.State != worker.StateDead || !strings.Contains(j.LastError, want) {
		t.Fatalf("job = %s: %q", j.State, j.LastError)
	}
	if left := processesInGroup(t, atoi(t, readFile(t, filepath.Join(dir, "pgid")))); len(left) > 0 {
		t.Fatalf("processes %v survived", left)
	}
}
