package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kiln/kilntype"
	"kiln/worker/image/imageapi"
)

// compactJSON is a JSON text without its insignificant spaces, for
// comparing what a program read with what kilnd stored.
func compactJSON(t *testing.T, text []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, bytes.TrimSpace(text)); err != nil {
		t.Fatalf("not JSON: %q: %v", text, err)
	}
	return b.String()
}

// commandTable is a [commands.NAME] table of prog and its arguments in
// queue images, with the given then.
func commandTable(name string, then []string, prog ...string) string {
	q := func(ss []string) string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(out, ", ") + "]"
	}
	return fmt.Sprintf("\n[commands.%s]\ncommand = %s\nqueue = \"images\"\nthen = %s\n", name, q(prog), q(then))
}

// A pipeline whose then names a command: the picture's variants are made,
// then the command's job gets the image job's result on its stdin, as a
// job of its own whose parent is the image job; kilnctl job shows each
// from the other.
func TestPipelineThenCommandThroughKilnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	upload := filepath.Join(e.dir, "upload")
	writeFile(t, upload, `#!/bin/sh
cat >"$1/uploaded-$KILN_JOB_ID.json"
echo '{"uploaded": true}'
`, 0o755)
	out := filepath.Join(e.dir, "shipped")
	e.writeConfig(t, e.configText("", fmt.Sprintf(`
[pipelines.shipped]
queue = "images"
output_dir = %q
then = ["upload"]

[[pipelines.shipped.variants]]
name = "w200"
width = 200
format = "jpeg"
`, out)+commandTable("upload", nil, upload, e.dir)))
	e.start(t)

	pic := e.picture(t, "a.jpg", 640, 480)
	r := e.kilnctl(t, "submit", "-pipeline", "shipped", pic)
	if r.code != 0 {
		t.Fatalf("submit: exit %d: %s", r.code, r.stderr)
	}
	parentID := strings.TrimSpace(r.stdout)
	parent := e.finished(t, parentID)
	if parent.State != kilntype.StateSucceeded {
		t.Fatalf("image job %s: %s", parent.State, parent.LastError)
	}
	res, err := imageapi.ParseResult(parent.Result)
	if err != nil || len(res.Outputs) != 1 || res.Outputs[0].Path != filepath.Join(out, parentID, "w200.jpg") || res.Outputs[0].Width != 200 {
		t.Fatalf("image job's result: %s (%v)", parent.Result, err)
	}
	if _, err := os.Stat(res.Outputs[0].Path); err != nil {
		t.Fatalf("variant: %v", err)
	}
	childID := parentID + "-1"
	if len(parent.Children) != 1 || parent.Children[0] != childID {
		t.Fatalf("image job's children = %v, want [%s]", parent.Children, childID)
	}
	child := e.finished(t, childID)
	if child.State != kilntype.StateSucceeded || child.Type != "upload" || child.Parent != parentID || compactJSON(t, child.Result) != `{"uploaded":true}` {
		t.Fatalf("upload job: %s %s parent %q result %s: %s", child.State, child.Type, child.Parent, child.Result, child.LastError)
	}
	stdin, err := os.ReadFile(filepath.Join(e.dir, "uploaded-"+childID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := compactJSON(t, stdin), compactJSON(t, parent.Result); got != want {
		t.Fatalf("the upload read on stdin:\n%s\nwant the image job's result:\n%s", got, want)
	}

	r = e.kilnctl(t, "job", parentID)
	if want := "children  " + childID + " (succeeded)"; r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("kilnctl job %s (exit %d) does not show %q:\n%s%s", parentID, r.code, want, r.stdout, r.stderr)
	}
	r = e.kilnctl(t, "job", childID)
	if want := "parent    " + parentID + " (succeeded)"; r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("kilnctl job %s (exit %d) does not show %q:\n%s%s", childID, r.code, want, r.stdout, r.stderr)
	}
}

// stepScript is a command that wraps the JSON it reads in one of its own,
// naming itself and its job, so that each step of a chain shows what the
// step before passed on. It appends its job's ID to runs, once per
// attempt; with a second argument it exits 75 on its first attempt.
func stepScript(t *testing.T, e *env) string {
	t.Helper()
	path := filepath.Join(e.dir, "step")
	writeFile(t, path, `#!/bin/sh
in=$(cat)
echo "$KILN_JOB_ID" >>"`+filepath.Join(e.dir, "runs")+`"
if [ -n "$2" ] && [ "$KILN_ATTEMPT" = 1 ]; then
	echo "not now" >&2
	exit 75
fi
printf '{"by": "%s", "job": "%s", "got": %s}\n' "$1" "$KILN_JOB_ID" "$in"
`, 0o755)
	return path
}

// runs are the job IDs the step script ran, one line per attempt.
func (e *env) runs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, "runs"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// Three commands, each the then of the one before: one submit runs three
// jobs, each reading what the step before printed and passing it on with
// more of its own.
func TestCommandChainPassesJSONOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	step := stepScript(t, e)
	e.writeConfig(t, e.configText("", commandTable("first", []string{"second"}, step, "first")+
		commandTable("second", []string{"third"}, step, "second")+
		commandTable("third", nil, step, "third")))
	e.start(t)

	r := e.kilnctl(t, "submit", "-type", "first", "-payload", `{"start": 1}`)
	if r.code != 0 {
		t.Fatalf("submit: exit %d: %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	ids := []string{id, id + "-1", id + "-1-1"}
	want := `{"start":1}`
	for i, name := range []string{"first", "second", "third"} {
		j := e.finished(t, ids[i])
		if j.State != kilntype.StateSucceeded || j.Type != name {
			t.Fatalf("step %d (%s): %s %s: %s", i+1, ids[i], j.Type, j.State, j.LastError)
		}
		if got := compactJSON(t, j.Payload); got != want {
			t.Fatalf("step %d's payload = %s, want the result of the step before, %s", i+1, got, want)
		}
		want = fmt.Sprintf(`{"by":%q,"job":%q,"got":%s}`, name, ids[i], want)
		if got := compactJSON(t, j.Result); got != want {
			t.Fatalf("step %d's result = %s, want %s", i+1, got, want)
		}
		if i < 2 && (len(j.Children) != 1 || j.Children[0] != ids[i+1]) {
			t.Fatalf("step %d's children = %v, want [%s]", i+1, j.Children, ids[i+1])
		}
		if i == 2 && len(j.Children) != 0 {
			t.Fatalf("the last step has children %v", j.Children)
		}
	}
	if got := e.runs(t); strings.Join(got, " ") != strings.Join(ids, " ") {
		t.Fatalf("runs = %v, want each step once: %v", got, ids)
	}
}

// A step that fails for now (exit 75) is retried on its own: its parent
// stays succeeded and does not run again, and the retried step passes its
// result on.
func TestChainStepRetriedAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	step := stepScript(t, e)
	e.writeConfig(t, e.configText("", commandTable("first", []string{"flaky"}, step, "first")+
		commandTable("flaky", []string{"last"}, step, "flaky", "fail-once")+
		commandTable("last", nil, step, "last")))
	e.start(t)

	r := e.kilnctl(t, "submit", "-type", "first", "-payload", `{}`)
	if r.code != 0 {
		t.Fatalf("submit: exit %d: %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	first := e.finished(t, id)
	if first.State != kilntype.StateSucceeded || first.Attempts != 1 || len(first.Children) != 1 {
		t.Fatalf("the first step: %s after %d attempts, children %v", first.State, first.Attempts, first.Children)
	}
	flaky := e.finished(t, id+"-1")
	if flaky.State != kilntype.StateSucceeded || flaky.Attempts != 2 || len(flaky.Errors) != 1 || !strings.Contains(flaky.Errors[0].Error, "exit status 75, EX_TEMPFAIL") {
		t.Fatalf("the flaky step: %s after %d attempts, errors %+v", flaky.State, flaky.Attempts, flaky.Errors)
	}
	last := e.finished(t, id+"-1-1")
	if last.State != kilntype.StateSucceeded || !strings.Contains(compactJSON(t, last.Payload), `"by":"flaky"`) {
		t.Fatalf("the step after the retried one: %s, payload %s: %s", last.State, last.Payload, last.LastError)
	}
	// The first step's record is as it was: finished once, not run again.
	if again := e.finished(t, id); again.Attempts != 1 || !again.FinishedAt.Equal(first.FinishedAt) {
		t.Fatalf("the first step after its child's retry: %d attempts, finished %s (was %s)", again.Attempts, again.FinishedAt, first.FinishedAt)
	}
	if got, want := strings.Join(e.runs(t), " "), strings.Join([]string{id, id + "-1", id + "-1", id + "-1-1"}, " "); got != want {
		t.Fatalf("runs = %s, want %s: the flaky step twice, every other once", got, want)
	}
	r = e.kilnctl(t, "job", id+"-1")
	if !strings.Contains(r.stdout, "parent    "+id+" (succeeded)") || !strings.Contains(r.stdout, "attempts  2 of 3") {
		t.Fatalf("kilnctl job %s-1:\n%s%s", id, r.stdout, r.stderr)
	}
}

// A then that names no job type, a pipeline's name, or a loop of
// commands is a config error: -check-config and a start exit 78, each
// problem with its file, line and key.
func TestThenOfNothingIsAConfigError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	text := e.configText("", `
[pipelines.shipped]
queue = "images"
output_dir = "`+filepath.Join(e.dir, "shipped")+`"
then = ["uplaod"]

[[pipelines.shipped.variants]]
name = "w"
width = 10
`+commandTable("upload", []string{"web"}, "/bin/cat")+commandTable("ping", []string{"pong"}, "/bin/cat")+commandTable("pong", []string{"ping"}, "/bin/cat"))
	e.writeConfig(t, text)
	types := "image, noop, ping, pong, upload"
	want := []string{
		fmt.Sprintf(`%s:%d: pipelines.shipped.then[0]: "uplaod" is no job type (job types: %s)`, e.config, lineOf(t, text, `then = ["uplaod"]`), types),
		fmt.Sprintf(`%s:%d: commands.upload.then[0]: "web" is no job type (job types: %s)`, e.config, lineOf(t, text, `then = ["web"]`), types),
		fmt.Sprintf(`%s:%d: commands.ping.then[0]: "pong" leads back to ping (ping -> pong -> ping)`, e.config, lineOf(t, text, `then = ["pong"]`)),
		fmt.Sprintf(`%s:%d: commands.pong.then[0]: "ping" leads back to pong (pong -> ping -> pong)`, e.config, lineOf(t, text, `then = ["ping"]`)),
	}
	for _, args := range [][]string{{"-check-config", "-config", e.config}, {"-config", e.config}} {
		out, code := runKilnd(t, args...)
		if code != 78 {
			t.Fatalf("kilnd %v: exit %d, want 78:\n%s", args, code, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("kilnd %v does not say %q:\n%s", args, w, out)
			}
		}
	}
}

// A reload's then applies to the jobs that finish after it; a reload whose
// then names a command only a restart would start is refused, and the
// running config stays.
func TestReloadedThenAppliesToNextJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	step := stepScript(t, e)
	plain := e.configText("", commandTable("first", nil, step, "first")+commandTable("second", nil, step, "second"))
	e.writeConfig(t, plain)
	e.start(t)

	submit := func() string {
		t.Helper()
		r := e.kilnctl(t, "submit", "-type", "first", "-payload", `{}`)
		if r.code != 0 {
			t.Fatalf("submit: exit %d: %s", r.code, r.stderr)
		}
		return strings.TrimSpace(r.stdout)
	}
	before := submit()
	if j := e.finished(t, before); j.State != kilntype.StateSucceeded || len(j.Children) != 0 {
		t.Fatalf("job before the reload: %s, children %v", j.State, j.Children)
	}

	e.writeConfig(t, e.configText("", commandTable("first", []string{"second"}, step, "first")+commandTable("second", nil, step, "second")))
	if r := e.kilnctl(t, "reload"); r.code != 0 {
		t.Fatalf("reload: exit %d: %s", r.code, r.stderr)
	}
	after := submit()
	if j := e.finished(t, after); j.State != kilntype.StateSucceeded || len(j.Children) != 1 {
		t.Fatalf("job after the reload: %s, children %v", j.State, j.Children)
	}
	if j := e.finished(t, after+"-1"); j.State != kilntype.StateSucceeded || j.Type != "second" {
		t.Fatalf("its follow-up: %s %s: %s", j.Type, j.State, j.LastError)
	}

	added := e.configText("", commandTable("first", []string{"added"}, step, "first")+commandTable("second", nil, step, "second")+commandTable("added", nil, step, "added"))
	e.writeConfig(t, added)
	r := e.kilnctl(t, "reload")
	want := fmt.Sprintf(`%s:%d: commands.first.then[0]: job type "added" does not run yet: a command a reload adds runs only after a restart`, e.config, lineOf(t, added, `then = ["added"]`))
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("reload naming an added command: exit %d, want %q:\n%s%s", r.code, want, r.stdout, r.stderr)
	}
	still := submit()
	e.finished(t, still)
	if j := e.finished(t, still+"-1"); j.State != kilntype.StateSucceeded || j.Type != "second" {
		t.Fatalf("after the refused reload, the follow-up: %s %s: %s", j.Type, j.State, j.LastError)
	}
}

// A command followed by image feeds a pipeline: its program prints an
// image job's payload, which the image kind checks as it checks a submit,
// so a picture outside the input roots ends the command's job dead with
// the reason rather than making an image job.
func TestCommandThenImageThroughKilnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pic := e.picture(t, "fed.jpg", 640, 480)
	fetch := filepath.Join(e.dir, "fetch")
	writeFile(t, fetch, `#!/bin/sh
printf '{"pipeline": "web", "input": %s}\n' "$(cat)"
`, 0o755)
	e.writeConfig(t, e.configText("", commandTable("fetch", []string{"image"}, fetch)))
	e.start(t)

	submit := func(input string) string {
		t.Helper()
		r := e.kilnctl(t, "submit", "-type", "fetch", "-payload", fmt.Sprintf("%q", input))
		if r.code != 0 {
			t.Fatalf("submit: exit %d: %s", r.code, r.stderr)
		}
		return strings.TrimSpace(r.stdout)
	}
	id := submit(pic)
	if j := e.finished(t, id); j.State != kilntype.StateSucceeded || len(j.Children) != 1 {
		t.Fatalf("fetch: %s, children %v: %s", j.State, j.Children, j.LastError)
	}
	img := e.finished(t, id+"-1")
	if img.State != kilntype.StateSucceeded || img.Type != "image" || img.Queue != "images" {
		t.Fatalf("its image job: %s %s in %s: %s", img.Type, img.State, img.Queue, img.LastError)
	}
	if _, err := os.Stat(filepath.Join(e.out, id+"-1", "thumb.webp")); err != nil {
		t.Fatalf("the pipeline's variant: %v", err)
	}

	outside := submit("/etc/passwd")
	j := e.finished(t, outside)
	if j.State != kilntype.StateDead || len(j.Children) != 0 || !strings.Contains(j.LastError, "payload.input: ") || !strings.Contains(j.LastError, "outside allowed_input_roots") {
		t.Fatalf("fetch of a file outside the roots: %s, children %v: %s", j.State, j.Children, j.LastError)
	}
}
