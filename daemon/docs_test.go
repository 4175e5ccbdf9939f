package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"kiln/api"
	"kiln/kilntype"
)

// apiDoc is the document that shows applications the API.
const apiDoc = "../docs/api.md"

// fencedBlock is doc's code block in lang whose text begins with start.
func fencedBlock(t *testing.T, name string, doc []byte, lang, start string) string {
	t.Helper()
	open := "```" + lang + "\n" + start
	i := bytes.Index(doc, []byte(open))
	if i < 0 {
		t.Fatalf("%s has no %s block beginning %q", name, lang, start)
	}
	body := doc[i+len("```"+lang+"\n"):]
	end := bytes.Index(body, []byte("\n```\n"))
	if end < 0 {
		t.Fatalf("%s: the %s block beginning %q does not end", name, lang, start)
	}
	return string(body[:end+1])
}

// The API document's examples, from a shell with curl and from Python's
// standard library, run as written against a daemon, with the socket path
// swapped for the test's: a change of the API that breaks them fails here.
func TestDocsAPIExamplesRun(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(apiDoc)
	if err != nil {
		t.Fatal(err)
	}
	shell := fencedBlock(t, apiDoc, doc, "sh", "# The API's document, a job queued")
	python := fencedBlock(t, apiDoc, doc, "python", "#!/usr/bin/python3\n# kiln-hello:")
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
		t.Fatalf("%s: the curl example: %v\n%s", apiDoc, err, out)
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
		t.Fatalf("%s: the Python example: %v\n%s", apiDoc, err, out)
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

// operatingDoc is the operators' document; its section restartSection
// lists the settings a reload keeps until a restart.
const (
	operatingDoc   = "../docs/operating.md"
	restartSection = "### Settings that need a restart"
)

// restartOnlyInDoc returns the keys the restart section of the operators'
// document lists, one "- `KEY`" bullet each, in their order.
func restartOnlyInDoc(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile(operatingDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(doc), "\n"+restartSection+"\n")
	if !found {
		t.Fatalf("%s has no section %q", operatingDoc, restartSection)
	}
	if end := regexp.MustCompile(`(?m)^#`).FindStringIndex(section); end != nil {
		section = section[:end[0]]
	}
	var keys []string
	for _, m := range regexp.MustCompile("(?m)^- `([^`]+)`").FindAllStringSubmatch(section, -1) {
		keys = append(keys, m[1])
	}
	return keys
}

// The settings the operators' document says need a restart are the ones a
// reload keeps (restartOnly), no more and no fewer.
func TestDocsListTheRestartOnlySettings(t *testing.T) {
	t.Parallel()
	inDoc := restartOnlyInDoc(t)
	documented := map[string]bool{}
	for _, key := range inDoc {
		if documented[key] {
			t.Errorf("%s, %q: %s is listed twice", operatingDoc, restartSection, key)
		}
		documented[key] = true
	}
	inCode := map[string]bool{}
	for _, s := range restartOnly {
		inCode[s.key] = true
		if !documented[s.key] {
			t.Errorf("%s, %q does not list %s, which a reload keeps until a restart (daemon/reload.go)", operatingDoc, restartSection, s.key)
		}
	}
	for _, key := range inDoc {
		if !inCode[key] {
			t.Errorf("%s, %q lists %s, which a reload does not keep (daemon/reload.go's restartOnly has no such key)", operatingDoc, restartSection, key)
		}
	}
}
