package rabbitmq

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/api"
	"kiln/internal/rabbitnode"
	"kiln/kilntype"
	"kiln/worker"
)

// The programs of the command jobs: each appends "JOB ATTEMPT HOST" to the
// runs file of the directory it is given, so that the test sees every run
// on every host.
const (
	echoScript = `#!/bin/sh
payload=$(cat)
echo "$KILN_JOB_ID $KILN_ATTEMPT $1" >>"$2/runs"
echo "echoing for $KILN_JOB_ID" >&2
printf '{"echo": %s, "host": "%s", "attempt": %s}\n' "$payload" "$1" "$KILN_ATTEMPT"
`
	flakyScript = `#!/bin/sh
cat >/dev/null
echo "$KILN_JOB_ID $KILN_ATTEMPT $1" >>"$2/runs"
if [ "$KILN_ATTEMPT" = 1 ]; then
	echo "the store is busy" >&2
	exit 75
fi
printf '{"attempt": %s}\n' "$KILN_ATTEMPT"
`
	refuseScript = `#!/bin/sh
cat >/dev/null
echo "$KILN_JOB_ID $KILN_ATTEMPT $1" >>"$2/runs"
echo "reading the payload" >&2
echo 'the payload needs a "key"' >&2
exit 65
`
	firstScript = `#!/bin/sh
payload=$(cat)
echo "$KILN_JOB_ID $KILN_ATTEMPT $1" >>"$2/runs"
printf '{"step": "first", "host": "%s", "got": %s}\n' "$1" "$payload"
`
	secondScript = `#!/bin/sh
in=$(cat)
echo "$KILN_JOB_ID $KILN_ATTEMPT $1" >>"$2/runs"
printf '{"step": "second", "read": %s}\n' "$in"
`
)

// commandHostsTable is the queue and the commands of one host, whose
// programs get the host's name and the scripts' directory as arguments.
func commandHostsTable(scripts, name string) string {
	cmd := func(script string) string {
		return fmt.Sprintf("[%q, %q, %q]", filepath.Join(scripts, script), name, scripts)
	}
	return fmt.Sprintf(`
[queues.cmds]
concurrency = 2
max_attempts = 3
backoff_base = "50ms"
backoff_max = "200ms"

[commands.echo]
command = %s
queue = "cmds"
timeout = "1m"

[commands.flaky]
command = %s
queue = "cmds"
timeout = "1m"

[commands.refuse]
command = %s
queue = "cmds"
timeout = "1m"

[commands.first]
command = %s
queue = "cmds"
timeout = "1m"
then = ["second"]

[commands.second]
command = %s
queue = "cmds"
timeout = "1m"
`, cmd("echo"), cmd("flaky"), cmd("refuse"), cmd("first"), cmd("second"))
}

// [commands.NAME] jobs on the rabbitmq backend, with two kilnd sharing one
// broker: a job submitted with kilnctl succeeds and both hosts show its
// result; one published by a foreign AMQP producer runs once and its
// result is recorded; exit 75 is retried and then succeeds, exit 65 is
// dead at once with the last stderr line as its reason; a command's then
// runs the next command on the first's result, and kilnctl job shows the
// chain.
func TestCommandJobs(t *testing.T) {
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	prefix := uniquePrefix(t)
	scripts := shortDir(t, "ks")
	for name, text := range map[string]string{"echo": echoScript, "flaky": flakyScript, "refuse": refuseScript, "first": firstScript, "second": secondScript} {
		if err := os.WriteFile(filepath.Join(scripts, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	urls := []string{brokerURL(node, "")}
	tl := follow(t, []string{node.URL("")}, prefix)
	a := startHost(t, "a", pics, hostConfig{urls: urls, prefix: prefix, extra: commandHostsTable(scripts, "a")})
	b := startHost(t, "b", pics, hostConfig{urls: urls, prefix: prefix, extra: commandHostsTable(scripts, "b")})
	hosts := map[string]*host{"a": a, "b": b}
	ctx := context.Background()

	t.Run("kilnctl submit, result on both hosts", func(t *testing.T) {
		out, err := a.kilnctl("submit", "-type", "echo", "-payload", `{"n": 1}`)
		if err != nil {
			t.Fatalf("kilnctl submit: %v\n%s", err, out)
		}
		id := strings.TrimSpace(out)
		j := finishedOn(t, a, id)
		if j.State != kilntype.StateSucceeded {
			t.Fatalf("job %s: %s (%s)", id, j.State, j.LastError)
		}
		var res struct {
			Echo    struct{ N int } `json:"echo"`
			Host    string          `json:"host"`
			Attempt int             `json:"attempt"`
		}
		if err := json.Unmarshal(j.Result, &res); err != nil || res.Echo.N != 1 || res.Attempt != 1 || hosts[res.Host] == nil {
			t.Fatalf("result = %s (%v)", j.Result, err)
		}
		want := fmt.Sprintf(`result    {"echo":{"n":1},"host":%q,"attempt":1}`, res.Host)
		other := a
		if res.Host == "a" {
			other = b
		}
		t.Logf("job %s ran on %s; asking %s as well", id, res.Host, other.name)
		for _, h := range []*host{hosts[res.Host], other} {
			finishedOn(t, h, id)
			out, err := h.kilnctl("job", id)
			if err != nil || !strings.Contains(out, "state     succeeded") || !strings.Contains(out, want) {
				t.Errorf("kilnctl job %s on %s (%v) does not show %q:\n%s", id, h.name, err, want, out)
			}
		}
		if runs := runsOf(t, scripts, id); len(runs) != 1 {
			t.Errorf("job %s ran %d times: %v", id, len(runs), runs)
		}
	})

	t.Run("foreign producer", func(t *testing.T) {
		publish, err := exec.LookPath("amqp-publish")
		if err != nil {
			t.Skip("amqp-publish is not installed (apt-get install amqp-tools)")
		}
		body := `{"type":"echo","payload":{"from":"amqp-publish"}}`
		// librabbitmq reads "host:port/" as the vhost "", not "/".
		out, err := exec.Command(publish, "--url="+strings.TrimSuffix(node.URL(""), "/"), "-e", prefix+".jobs", "-r", "cmds", "-p",
			"-C", "application/json", "-b", body).CombinedOutput()
		if err != nil {
			t.Fatalf("amqp-publish: %v\n%s", err, out)
		}
		// amqp-publish sets no message_id: kiln gives the job an ID.
		var published []*api.Job
		waitFor(t, time.Minute, "the published job succeeded", func() (string, bool) {
			jobs, err := a.client().List(ctx, "cmds", "", 0)
			if err != nil {
				return err.Error(), false
			}
			published = published[:0]
			for _, j := range jobs {
				if j.Type == "echo" && compact(j.Payload) == `{"from":"amqp-publish"}` {
					published = append(published, j)
				}
			}
			if len(published) == 0 {
				return "not listed yet", false
			}
			return fmt.Sprintf("%d jobs, the first %s", len(published), published[0].State), published[0].State == kilntype.StateSucceeded
		})
		id := published[0].ID
		t.Logf("the published message is job %s", id)
		// Once the work queue holds no message, neither the producer's
		// message nor kiln's copy of it can run again.
		waitFor(t, time.Minute, "the work queue empty", func() (string, bool) {
			n, err := queueMessages(node, prefix+".q.cmds")
			if err != nil {
				return err.Error(), false
			}
			return fmt.Sprintf("%d messages", n), n == 0
		})
		jobs, err := a.client().List(ctx, "cmds", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, j := range jobs {
			if compact(j.Payload) == `{"from":"amqp-publish"}` {
				ids = append(ids, j.ID)
			}
		}
		if len(ids) != 1 {
			t.Errorf("the published message is the jobs %v, want one", ids)
		}
		if runs := runsOf(t, scripts, id); len(runs) != 1 {
			t.Errorf("the published job %s ran %d times: %v", id, len(runs), runs)
		}
		waitFor(t, 30*time.Second, "the published job's success in the records", func() (string, bool) {
			tl.mu.Lock()
			defer tl.mu.Unlock()
			return fmt.Sprintf("%d successes", tl.succeeded[id]), tl.succeeded[id] > 0
		})
		tl.mu.Lock()
		if r := tl.runs[id]; len(r) != 1 {
			t.Errorf("the records show %d runs of the published job %s: %v", len(r), id, r)
		}
		tl.mu.Unlock()
		for _, h := range []*host{a, b} {
			j := finishedOn(t, h, id)
			if j.State != kilntype.StateSucceeded || !strings.HasPrefix(compact(j.Result), `{"echo":{"from":"amqp-publish"},"host":`) {
				t.Errorf("the published job on %s: %s, result %s (%s)", h.name, j.State, j.Result, j.LastError)
			}
		}
	})

	t.Run("exit 75 retried, exit 65 dead", func(t *testing.T) {
		flaky, err := b.client().Submit(ctx, api.SubmitRequest{Type: "flaky", Payload: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		refused, err := b.client().Submit(ctx, api.SubmitRequest{Type: "refuse", Payload: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		j := finishedOn(t, b, flaky.ID)
		if j.State != kilntype.StateSucceeded || j.Attempts != 2 || compact(j.Result) != `{"attempt":2}` {
			t.Errorf("flaky job: %s after %d attempts, result %s (%s)", j.State, j.Attempts, j.Result, j.LastError)
		}
		if len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Error, "exit status 75, EX_TEMPFAIL") || !strings.Contains(j.Errors[0].Error, "the store is busy") {
			t.Errorf("flaky job's errors: %+v", j.Errors)
		}
		if runs := runsOf(t, scripts, flaky.ID); len(runs) != 2 || !strings.HasPrefix(runs[0], flaky.ID+" 1 ") || !strings.HasPrefix(runs[1], flaky.ID+" 2 ") {
			t.Errorf("flaky job's runs: %v", runs)
		}
		t.Logf("flaky job %s: runs %v", flaky.ID, runsOf(t, scripts, flaky.ID))

		j = finishedOn(t, b, refused.ID)
		reason := `refused the job (exit status 65, EX_DATAERR): the payload needs a "key"`
		if j.State != kilntype.StateDead || j.Attempts != 1 || !strings.HasSuffix(j.LastError, reason) {
			t.Errorf("refused job: %s after %d attempts: %q, want dead after 1 with %q", j.State, j.Attempts, j.LastError, reason)
		}
		if runs := runsOf(t, scripts, refused.ID); len(runs) != 1 {
			t.Errorf("refused job's runs: %v", runs)
		}
		t.Logf("refused job %s: %s: %s", refused.ID, j.State, j.LastError)
	})

	t.Run("then", func(t *testing.T) {
		out, err := b.kilnctl("submit", "-type", "first", "-payload", `{"chain": true}`)
		if err != nil {
			t.Fatalf("kilnctl submit: %v\n%s", err, out)
		}
		parentID := strings.TrimSpace(out)
		childID := worker.FollowUpID(parentID, 1)
		parent := finishedOn(t, b, parentID)
		if parent.State != kilntype.StateSucceeded || len(parent.Children) != 1 || parent.Children[0] != childID {
			t.Fatalf("first: %s, children %v (%s); want succeeded with [%s]", parent.State, parent.Children, parent.LastError, childID)
		}
		child := finishedOn(t, b, childID)
		var res struct {
			Step string          `json:"step"`
			Read json.RawMessage `json:"read"`
		}
		if err := json.Unmarshal(child.Result, &res); err != nil || child.State != kilntype.StateSucceeded || child.Type != "second" || child.Parent != parentID || res.Step != "second" {
			t.Fatalf("second: %s %s, parent %q, result %s (%v, %s)", child.State, child.Type, child.Parent, child.Result, err, child.LastError)
		}
		if got, want := compact(res.Read), compact(parent.Result); got != want || !strings.Contains(want, `"got":{"chain":true}`) {
			t.Errorf("second read on stdin %s, want first's result %s", got, want)
		}
		for _, h := range []*host{a, b} {
			finishedOn(t, h, childID)
			out, err := h.kilnctl("job", parentID)
			if want := "children  " + childID + " (succeeded)"; err != nil || !strings.Contains(out, want) {
				t.Errorf("kilnctl job %s on %s (%v) does not show %q:\n%s", parentID, h.name, err, want, out)
			} else if h == b {
				t.Logf("kilnctl job %s:\n%s", parentID, out)
			}
			out, err = h.kilnctl("job", childID)
			if want := "parent    " + parentID + " (succeeded)"; err != nil || !strings.Contains(out, want) {
				t.Errorf("kilnctl job %s on %s (%v) does not show %q:\n%s", childID, h.name, err, want, out)
			}
		}
	})
}

// finishedOn waits until h knows job id to have finished and returns it.
func finishedOn(t *testing.T, h *host, id string) *api.Job {
	t.Helper()
	var j *api.Job
	waitFor(t, time.Minute, "job "+id+" finished on "+h.name, func() (string, bool) {
		got, err := h.client().Job(context.Background(), id, 0)
		if err != nil {
			return err.Error(), false
		}
		j = got
		return string(got.State), got.State.Terminal()
	})
	return j
}

// runsOf is the lines of the scripts' runs file for job id.
func runsOf(t *testing.T, scripts, id string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(scripts, "runs"))
	if err != nil {
		t.Fatal(err)
	}
	var runs []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, id+" ") {
			runs = append(runs, l)
		}
	}
	return runs
}

// queueMessages is the number of messages, ready and unacknowledged, of a
// queue of the node.
func queueMessages(node *rabbitnode.Node, name string) (int, error) {
	out, err := node.Ctl("list_queues", "-q", "--no-table-headers", "name", "messages")
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == name {
			var n int
			_, err := fmt.Sscan(f[1], &n)
			return n, err
		}
	}
	return 0, fmt.Errorf("no queue %s in:\n%s", name, out)
}

func compact(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
