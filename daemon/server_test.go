package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/api"
	"kiln/e2e/instance"
	"kiln/kilntype"
	"kiln/worker"
	"kiln/worker/image/imageapi"
)

// These tests run the real control server of a daemon that has taken every
// start-up step (config, pidfile, queue store, job kinds, socket) in this
// process, on a temp socket. The dispatch loop is not started, so jobs stay
// where the API put them and each answer can be checked exactly.

type serverBundle struct {
	d      *daemon
	dir    string
	config string
	client *api.Client
	http   *http.Client
	log    *instance.LogBuffer
}

func serverConfig(dir, extra string) string {
	return fmt.Sprintf(`[daemon]
state_dir = %q
pidfile = %q
socket = %q

[log]
target = "stderr"
level = "info"

[queues.images]
concurrency = 1

[queues.small]
max_queued = 1

[images]
# The tests' pictures are written in dir.
allowed_input_roots = [%q]

[pipelines.web]
queue = "images"
output_dir = %q

[[pipelines.web.variants]]
name = "w100"
width = 100
format = "jpeg"
%s`, filepath.Join(dir, "state"), filepath.Join(dir, "kilnd.pid"), filepath.Join(dir, "kiln.sock"), dir, filepath.Join(dir, "out"), extra)
}

func setupServer(t *testing.T, stateDir string) *serverBundle {
	t.Helper()
	return setupServerWith(t, func(dir string) string {
		text := serverConfig(dir, "")
		if stateDir != "" {
			text = strings.Replace(text, filepath.Join(dir, "state"), stateDir, 1)
		}
		return text
	}, testPlugins())
}

// setupServerWith starts a daemon with the given plugins on the config
// that config writes for the bundle's directory.
func setupServerWith(t *testing.T, config func(dir string) string, plugins []worker.Plugin) *serverBundle {
	t.Helper()
	// Unix socket paths are limited to 108 bytes: keep the dir short.
	dir, err := os.MkdirTemp("", "ks")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b := &serverBundle{dir: dir, config: filepath.Join(dir, "kiln.toml"), log: &instance.LogBuffer{}}
	b.writeConfig(t, config(dir))
	b.d = &daemon{opts: Options{ConfigPath: b.config, Stderr: b.log, Stdout: io.Discard}, plugins: plugins, notify: newNotifier(), started: time.Now()}
	t.Cleanup(b.d.close)
	if code, err := b.d.start(); err != nil {
		t.Fatalf("start: exit %d: %v", code, err)
	}
	t.Cleanup(func() { b.d.server.shutdown(context.Background()) })
	socket := b.d.config().Daemon.Socket
	b.client = api.NewClient(socket)
	b.http = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	return b
}

func (b *serverBundle) writeConfig(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(b.config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// do sends a request and returns the status and body.
func (b *serverBundle) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://kiln"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func (b *serverBundle) picture(t *testing.T) string {
	t.Helper()
	// A JPEG's first bytes are all the submit check reads.
	path := filepath.Join(b.dir, "in.jpg")
	if err := os.WriteFile(path, append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, make([]byte, 64)...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServer_Submit(t *testing.T) {
	t.Parallel()
	b := setupServer(t, "")
	pic := b.picture(t)
	image := `"type":"image","payload":{"pipeline":"web","input":"` + pic + `"}`

	code, body := b.do(t, "POST", "/v1/jobs", "{"+image+`,"unique_key":"pic-1"}`)
	var first api.Submitted
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &first) != nil || first.Duplicate || first.Queue != "images" || first.State != kilntype.StateQueued {
		t.Fatalf("first submit: %d %s; want 201, queued in the pipeline's queue", code, body)
	}
	if strings.Contains(body, `"payload"`) {
		t.Errorf("submit answer echoes the payload: %s", body)
	}
	code, body = b.do(t, "POST", "/v1/jobs", "{"+image+`,"unique_key":"pic-1"}`)
	var dup api.Submitted
	if code != http.StatusOK || json.Unmarshal([]byte(body), &dup) != nil || !dup.Duplicate || dup.ID != first.ID {
		t.Fatalf("duplicate submit: %d %s; want 200 with duplicate:true and the first job", code, body)
	}

	for body, want := range map[string]string{
		`{` + image + `,"priority":-1}`:                                                  `priority: must be between 0 and 1000`,
		`{` + image + `,"priority":"high"}`:                                              `priority: must be an integer, not string`,
		`{` + image + `,"queue":"nope"}`:                                                 `queue: unknown queue \"nope\"`,
		`{` + image + `,"colour":"red"}`:                                                 `unknown field \"colour\"`,
		`{"type":"image","payload":{"pipeline":"web"}}`:                                  `payload.input: is required`,
		`{"type":"image","payload":{"pipeline":"x","input":""}}`:                         `payload.pipeline: unknown pipeline \"x\" (configured: web)`,
		`{"type":"image","payload":{"pipeline":"web","input":"` + b.dir + `/none.jpg"}}`: `payload.input: ` + b.dir + `/none.jpg: no such file or directory`,
		`{"type":"video"}`:                                                               `type: no job kind \"video\" (known: image, noop, webhook)`,
		`{}`:                                                                             `type: is required`,
		``:                                                                               `empty request body`,
	} {
		code, got := b.do(t, "POST", "/v1/jobs", body)
		if code != http.StatusBadRequest || !strings.Contains(got, want) {
			t.Errorf("POST %s: %d %s; want 400 with %q", body, code, got, want)
		}
	}
}

func TestServer_SubmitBatch(t *testing.T) {
	t.Parallel()
	b := setupServer(t, "")
	code, body := b.do(t, "POST", "/v1/jobs/batch", `{"jobs":[{"type":"noop"},{"type":"noop","priority":2000}]}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "jobs[1].priority: must be between 0 and 1000") {
		t.Fatalf("batch with a bad job: %d %s", code, body)
	}
	code, body = b.do(t, "POST", "/v1/jobs/batch", `{"jobs":[]}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "jobs: a batch holds 1 to 10000 jobs, not 0") {
		t.Fatalf("empty batch: %d %s", code, body)
	}
	jobs, err := b.client.SubmitBatch(context.Background(), []api.SubmitRequest{{Type: "noop"}, {Type: "noop", UniqueKey: "k"}, {Type: "noop", UniqueKey: "k"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 || jobs[1].Duplicate || !jobs[2].Duplicate || jobs[2].ID != jobs[1].ID {
		t.Fatalf("batch answer %+v; want the third a duplicate of the second", jobs)
	}
}

// A queue at its max_queued answers 429 naming the queue; the jobs it holds
// are kept.
func TestServer_QueueFull(t *testing.T) {
	t.Parallel()
	b := setupServer(t, "")
	ctx := context.Background()
	kept, err := b.client.Submit(ctx, api.SubmitRequest{Type: "noop", Queue: "small"})
	if err != nil {
		t.Fatal(err)
	}
	code, body := b.do(t, "POST", "/v1/jobs", `{"type":"noop","queue":"small"}`)
	if code != http.StatusTooManyRequests || !strings.Contains(body, `queue full: queue \"small\" holds 1 waiting jobs, its max_queued is 1`) {
		t.Fatalf("submit to a full queue: %d %s", code, body)
	}
	if j, err := b.client.Job(ctx, kept.ID, 0); err != nil || j.State != kilntype.StateQueued {
		t.Fatalf("job already in the full queue: %+v %v", j, err)
	}
}

// A full filesystem answers 503 "no space left on device"; what was
// accepted before stays.
func TestServer_NoSpace(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs to fill needs root; make test runs as root")
	}
	state := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", state).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", state).Run() })
	b := setupServer(t, state)
	ctx := context.Background()
	payload := json.RawMessage(`{"data":"` + strings.Repeat("x", 60000) + `"}`)
	var accepted []string
	var full *api.RequestError
	for i := 0; i < 1000 && full == nil; i++ {
		j, err := b.client.Submit(ctx, api.SubmitRequest{Type: "noop", Payload: payload})
		switch {
		case err == nil:
			accepted = append(accepted, j.ID)
		case errors.As(err, &full):
		default:
			t.Fatal(err)
		}
	}
	if full == nil || full.Status != http.StatusServiceUnavailable || !strings.Contains(full.Message, "no space left on device") {
		t.Fatalf("filling the disk: %v; want 503 no space left on device", full)
	}
	for _, id := range accepted {
		if _, err := b.client.Job(ctx, id, 0); err != nil {
			t.Fatalf("accepted job %s lost after the disk filled: %v", id, err)
		}
	}
}

func TestServer_JobNotFoundAndWrongState(t *testing.T) {
	t.Parallel()
	b := setupServer(t, "")
	if code, body := b.do(t, "GET", "/v1/jobs/01NOSUCHJOB", ""); code != http.StatusNotFound || !strings.Contains(body, "job not found") {
		t.Errorf("unknown job: %d %s", code, body)
	}
	if code, body := b.do(t, "POST", "/v1/jobs/01NOSUCHJOB/cancel", ""); code != http.StatusNotFound {
		t.Errorf("cancel unknown job: %d %s", code, body)
	}
	j, err := b.client.Submit(context.Background(), api.SubmitRequest{Type: "noop"})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := b.do(t, "POST", "/v1/jobs/"+j.ID+"/retry", ""); code != http.StatusConflict || !strings.Contains(body, "not allowed in the job's state") {
		t.Errorf("retry of a queued job: %d %s; want 409", code, body)
	}
	code, body := b.do(t, "POST", "/v1/jobs/"+j.ID+"/cancel", "")
	var c api.Cancelled
	if code != http.StatusOK || json.Unmarshal([]byte(body), &c) != nil || c.State != kilntype.StateCancelled || c.Stopping {
		t.Errorf("cancel of a queued job: %d %s", code, body)
	}
	if code, body := b.do(t, "POST", "/v1/jobs/"+j.ID+"/cancel", ""); code != http.StatusConflict {
		t.Errorf("cancel of a cancelled job: %d %s; want 409", code, body)
	}
	if code, body := b.do(t, "POST", "/v1/queues/nope/pause", ""); code != http.StatusNotFound || !strings.Contains(body, `queue \"nope\" is not configured`) {
		t.Errorf("pause of an unknown queue: %d %s", code, body)
	}
	if code, body := b.do(t, "GET", "/v1/jobs?state=lost", ""); code != http.StatusBadRequest || !strings.Contains(body, `state: \"lost\" is not one of`) {
		t.Errorf("list by an unknown state: %d %s", code, body)
	}
	if code, body := b.do(t, "DELETE", "/v1/jobs?state=queued", ""); code != http.StatusBadRequest || !strings.Contains(body, "only succeeded, dead or cancelled jobs are purged") {
		t.Errorf("purge of queued jobs: %d %s", code, body)
	}
	if code, body := b.do(t, "GET", "/v1/jobs/"+j.ID+"?wait=soon", ""); code != http.StatusBadRequest || !strings.Contains(body, `wait: \"soon\" is not a duration`) {
		t.Errorf("bad wait: %d %s", code, body)
	}
}

// The API shows a job without the queue's own bookkeeping.
func TestServer_JobHasNoStoredOnlyFields(t *testing.T) {
	t.Parallel()
	b := setupServer(t, "")
	ctx := context.Background()
	j, err := b.client.Submit(ctx, api.SubmitRequest{Type: "noop", Queue: "images"})
	if err != nil {
		t.Fatal(err)
	}
	leased, _, err := b.d.queue.Lease(ctx, "images", 1, time.Hour)
	if err != nil || len(leased) != 1 || leased[0].LeaseUntil.IsZero() {
		t.Fatalf("lease: %v %v", leased, err)
	}
	if _, err := b.d.queue.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	code, body := b.do(t, "GET", "/v1/jobs/"+j.ID, "")
	if code != http.StatusOK || !strings.Contains(body, `"state":"running"`) {
		t.Fatalf("get: %d %s", code, body)
	}
	for _, field := range []string{"lease_until", "cancel_requested", "existing", "duplicate"} {
		if strings.Contains(body, `"`+field+`"`) {
			t.Errorf("job answer carries %q: %s", field, body)
		}
	}
}

func TestServer_Status(t *testing.T) {
	t.Parallel()
	b := setupServer(t, "")
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := b.client.Submit(ctx, api.SubmitRequest{Type: "noop", Queue: "images"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.client.Pause(ctx, "images"); err != nil {
		t.Fatal(err)
	}
	st, err := b.client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q := st.Queues["images"]
	if q == nil || q.Counts[kilntype.StateQueued] != 2 || !q.Paused || q.Concurrency != 1 || st.PID != os.Getpid() || st.Config != b.config {
		t.Fatalf("status %+v, images %+v", st, q)
	}
}

// POST /v1/reload applies a good file and answers its name; a bad one is
// answered 422 with every problem, and the running config stays.
func TestServer_Reload(t *testing.T) {
	t.Parallel()
	b := setupServer(t, "")
	ctx := context.Background()
	pic := b.picture(t)
	small := `
[pipelines.small]
queue = "images"
output_dir = "` + b.dir + `/small"
[[pipelines.small.variants]]
name = "tiny"
width = 32
`
	b.writeConfig(t, serverConfig(b.dir, small))
	code, body := b.do(t, "POST", "/v1/reload", "")
	if code != http.StatusOK || !strings.Contains(body, `"config":"`+b.config+`"`) {
		t.Fatalf("reload of a good file: %d %s", code, body)
	}
	if _, err := b.client.Submit(ctx, imageapi.Request("small", pic)); err != nil {
		t.Fatalf("new pipeline after reload: %v", err)
	}

	b.writeConfig(t, serverConfig(b.dir, small+"\n[queues.images2]\nconcurrency = 0\n[pipelines.bad]\noutput_dir = 7\n"))
	code, body = b.do(t, "POST", "/v1/reload", "")
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "queues.images2.concurrency: must be between 1 and 1024") || !strings.Contains(body, "pipelines.bad.output_dir: must be a string, not an integer (7)") {
		t.Fatalf("reload of a bad file: %d %s; want 422 naming both problems", code, body)
	}
	if _, err := b.client.Submit(ctx, imageapi.Request("small", pic)); err != nil {
		t.Fatalf("config in effect before the bad reload stopped serving: %v", err)
	}
	if !strings.Contains(b.log.String(), "reload refused") {
		t.Errorf("a refused reload is not logged:\n%s", b.log.String())
	}

	moved := strings.Replace(serverConfig(b.dir, small), filepath.Join(b.dir, "kiln.sock"), filepath.Join(b.dir, "other.sock"), 1)
	b.writeConfig(t, moved)
	if code, body := b.do(t, "POST", "/v1/reload", ""); code != http.StatusOK {
		t.Fatalf("reload changing the socket: %d %s", code, body)
	}
	if !strings.Contains(b.log.String(), "needs restart: daemon.socket") {
		t.Errorf("a socket change on reload is not logged as needing a restart:\n%s", b.log.String())
	}
	if b.d.config().Daemon.Socket != filepath.Join(b.dir, "kiln.sock") {
		t.Errorf("the running daemon's socket setting changed to %s without a restart", b.d.config().Daemon.Socket)
	}

	// net/http reads these two once, when the listener's server is made.
	b.writeConfig(t, serverConfig(b.dir, small+"\n[limits]\nidle_timeout = \"7s\"\nheader_timeout = \"3s\"\n"))
	if code, body := b.do(t, "POST", "/v1/reload", ""); code != http.StatusOK {
		t.Fatalf("reload changing the listener timeouts: %d %s", code, body)
	}
	for _, key := range []string{"limits.idle_timeout", "limits.header_timeout"} {
		if !strings.Contains(b.log.String(), "needs restart: "+key) {
			t.Errorf("a change of %s on reload is not logged as needing a restart:\n%s", key, b.log.String())
		}
	}
	if got := b.d.config().Limits.IdleTimeout; got != defaultLimits().IdleTimeout {
		t.Errorf("the running idle_timeout changed to %v without a restart", got)
	}
}
