package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/api"
	"kiln/kilntype"
)

// fencedBlock is the README's code block in lang whose text begins with
// start.
func fencedBlock(t *testing.T, readme []byte, lang, start string) string {
	t.Helper()
	open := "```" + lang + "\n" + start
	i := bytes.Index(readme, []byte(open))
	if i < 0 {
		t.Fatalf("README.md has no %s block beginning %q", lang, start)
	}
	body := readme[i+len("```"+lang+"\n"):]
	end := bytes.Index(body, []byte("\n```\n"))
	if end < 0 {
		t.Fatalf("README.md: the %s block beginning %q does not end", lang, start)
	}
	return string(body[:end+1])
}

// The README's examples of the API, from a shell with curl and from
// Python's standard library, run as written against a daemon, with the
// socket path swapped for the test's: a change of the API that breaks
// them fails here.
func TestReadmeAPIExamplesRun(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	shell := fencedBlock(t, readme, "sh", "# The API's document, a job queued")
	python := fencedBlock(t, readme, "python", "#!/usr/bin/python3\n# kiln-hello:")
	for _, tool := range []string{"curl", "/usr/bin/python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (make deps-test installs it): %v", tool, err)
		}
	}
	b := setupServer(t, "")
	runLoop(t, b.d, readyBeat)
	socket := b.d.config().Daemon.Socket
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cmd := exec.CommandContext(ctx, "sh", "-eu", "-c", strings.ReplaceAll(shell, api.DefaultSocket, socket))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's curl example: %v\n%s", err, out)
	}
	if doc, err := os.ReadFile(filepath.Join(dir, "kiln-openapi.json")); err != nil || !bytes.Equal(doc, api.OpenAPI) {
		t.Errorf("the curl example's kiln-openapi.json is not the document (%v)", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var queued api.Submitted
	var page api.JobList
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &queued) != nil || json.Unmarshal([]byte(lines[1]), &page) != nil {
		t.Fatalf("the curl example printed, want a job and a page of jobs:\n%s", out)
	}
	if queued.ID == "" || queued.UniqueKey != "hello-1" || queued.Queue != DefaultQueue || len(page.Jobs) != 1 || page.Jobs[0].ID != queued.ID {
		t.Errorf("the curl example: queued %+v, listed %+v", queued, page)
	}

	script := filepath.Join(dir, "kiln-hello")
	if err := os.WriteFile(script, []byte(strings.ReplaceAll(python, api.DefaultSocket, socket)), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = exec.CommandContext(ctx, "/usr/bin/python3", script).CombinedOutput()
	if err != nil {
		t.Fatalf("the README's Python example: %v\n%s", err, out)
	}
	id, state, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if state != string(kilntype.StateSucceeded) {
		t.Fatalf("the Python example printed %q, want an ID and succeeded", out)
	}
	j, err := b.client.Job(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]string
	if j.State != kilntype.StateSucceeded || json.Unmarshal(j.Payload, &payload) != nil || payload["hello"] != "kiln" {
		t.Errorf("the Python example's job %s: %s with payload %s", id, j.State, j.Payload)
	}
}
