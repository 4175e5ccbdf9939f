package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/api"
)

// A [commands.NAME] job submitted with kilnctl runs the operator's program:
// its progress shows in kilnctl job, in the event stream and on the
// dashboard's job page while it runs, its stderr in kilnd's log with the
// job's ID, and its stdout is the result kilnctl job shows. One submitted
// over the TCP API runs the same way.
func TestCommandJobThroughKilnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	prog := filepath.Join(e.dir, "upload")
	writeFile(t, prog, `#!/bin/sh
payload=$(cat)
echo "uploading for $KILN_JOB_ID" >&2
echo "progress 2/5" >&3
touch "$1/started"
while [ ! -e "$1/go" ]; do sleep 0.01; done
printf '{"uploaded": %s, "attempt": %s, "queue": "%s"}\n' "$payload" "$KILN_ATTEMPT" "$KILN_QUEUE"
`, 0o755)
	const token = "admin-token-abcdefghijkl"
	addr := freeAddr(t)
	tokens := e.writeTokens(t, tokenLine{"ops", "admin", token})
	e.writeConfig(t, e.configText("", httpTable(addr, tokens, "")+fmt.Sprintf("\n[commands.upload]\ncommand = [%q, %q]\nqueue = \"images\"\ntimeout = \"1m\"\n", prog, e.dir)))
	d := e.start(t)

	payloadFile := filepath.Join(e.dir, "job.json")
	writeFile(t, payloadFile, `{"key": "photos/a.jpg"}`, 0o644)
	r := e.kilnctl(t, "submit", "-type", "upload", "-payload", "@"+payloadFile)
	if r.code != 0 {
		t.Fatalf("submit: exit %d: %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)

	// The event stream's progress, asked for before the program reports.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	streamed := make(chan api.ProgressEvent, 1)
	go func() {
		errEnd := errors.New("got it")
		e.client().Events(ctx, api.EventsRequest{Job: id, Follow: true, Progress: true}, func(it api.StreamItem) error {
			if it.Progress != nil {
				streamed <- *it.Progress
				return errEnd
			}
			return nil
		})
	}()

	waitForFile(t, filepath.Join(e.dir, "started"))
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = e.kilnctl(t, "job", id)
		if strings.Contains(r.stdout, "progress  2/5 (40%)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kilnctl job never showed the progress:\n%s%s", r.stdout, r.stderr)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not timing
	}
	select {
	case p := <-streamed:
		if p.Job != id || p.Type != "upload" || p.Queue != "images" || p.Progress.Done != 2 || p.Progress.Total != 5 {
			t.Fatalf("progress event = %+v", p)
		}
	case <-ctx.Done():
		t.Fatal("the event stream sent no progress")
	}
	browser := dashboardClient(t)
	if resp := postForm(t, browser, "http://"+addr+"/ui/login", url.Values{"secret": {token}}, "http://"+addr); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("dashboard login: %d", resp.StatusCode)
	}
	if code, page := getBody(t, browser, "http://"+addr+"/ui/jobs/"+id); code != http.StatusOK || !strings.Contains(page, `<progress max="5" value="2"></progress> 2/5 (40%)`) || !strings.Contains(page, "progress=true") {
		t.Fatalf("dashboard job page: %d, no progress:\n%s", code, page)
	}

	writeFile(t, filepath.Join(e.dir, "go"), "", 0o644)
	j := e.finished(t, id)
	if j.State != "succeeded" {
		t.Fatalf("job %s: %s", j.State, j.LastError)
	}
	var res struct {
		Uploaded struct{ Key string } `json:"uploaded"`
		Attempt  int                  `json:"attempt"`
		Queue    string               `json:"queue"`
	}
	if err := json.Unmarshal(j.Result, &res); err != nil || res.Uploaded.Key != "photos/a.jpg" || res.Attempt != 1 || res.Queue != "images" {
		t.Fatalf("result = %s (%v)", j.Result, err)
	}
	r = e.kilnctl(t, "job", id)
	if !strings.Contains(r.stdout, `result    {"uploaded":{"key":"photos/a.jpg"},"attempt":1,"queue":"images"}`) || strings.Contains(r.stdout, "progress") {
		t.Fatalf("kilnctl job after the end:\n%s", r.stdout)
	}
	// Over the TCP API, with the program no longer waiting.
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/jobs", strings.NewReader(`{"type": "upload", "payload": {"key": "over/tcp.jpg"}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sub api.Submitted
	json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("TCP submit: %s", resp.Status)
	}
	if j := e.finished(t, sub.ID); j.State != "succeeded" || !strings.Contains(string(j.Result), `"over/tcp.jpg"`) {
		t.Fatalf("job over TCP: %s %s %s", j.State, j.Result, j.LastError)
	}

	d.waitLog(t, "job="+id)
	if !strings.Contains(d.stderr.String(), `line="uploading for `+id+`"`) {
		t.Fatalf("stderr line not logged with the job's ID:\n%s", d.stderr.String())
	}
}

// A command whose program cannot run is a config error, at -check-config
// and at start alike, naming the file, the line and the key.
func TestCommandProgramMissingIsAConfigError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	missing := filepath.Join(e.dir, "bin", "upload-variants")
	notExec := filepath.Join(e.dir, "notexec")
	writeFile(t, notExec, "#!/bin/sh\n", 0o644)
	// A relative path is refused with the values, before the machine is
	// looked at; the others by the start checks.
	relative := e.configText("", "\n[commands.relative]\ncommand = [\"upload.sh\"]\n")
	onMachine := e.configText("", fmt.Sprintf("\n[commands.upload]\ncommand = [%q]\n\n[commands.plain]\ncommand = [%q]\n", missing, notExec))
	for _, c := range []struct {
		text string
		want []string
	}{
		{relative, []string{fmt.Sprintf(`%s:%d: commands.relative.command: "upload.sh" must be an absolute path (programs are never looked up in PATH)`, e.config, lineOf(t, relative, `"upload.sh"`))}},
		{onMachine, []string{
			fmt.Sprintf("%s:%d: commands.upload.command: %s: no such file or directory", e.config, lineOf(t, onMachine, missing), missing),
			fmt.Sprintf("%s:%d: commands.plain.command: %s: is not executable by this user (mode -rw-r--r--)", e.config, lineOf(t, onMachine, notExec), notExec),
		}},
	} {
		e.writeConfig(t, c.text)
		for _, args := range [][]string{{"-check-config", "-config", e.config}, {"-config", e.config}} {
			out, code := runKilnd(t, args...)
			if code != 78 {
				t.Fatalf("kilnd %v: exit %d, want 78:\n%s", args, code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("kilnd %v does not say %q:\n%s", args, w, out)
				}
			}
		}
	}
}

// lineOf is the line of text that holds s.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("no line holds %q", s)
	return 0
}

// waitForFile waits until a script has written path, as it does once it
// has got there.
func waitForFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not timing
	}
}
