package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kiln/api"
	"kiln/worker/image/imageapi"
)

// delivery is one POST the receiver accepted.
type delivery struct {
	path    string
	eventID string
	body    struct {
		EventID uint64  `json:"event_id"`
		Event   string  `json:"event"`
		Job     api.Job `json:"job"`
	}
}

// receiver is a webhook endpoint that is down (503) for the first
// attempts of every event, and checks each signature itself.
type receiver struct {
	t        *testing.T
	key      []byte
	failures int // answers 503 this many times per event first
	mu       sync.Mutex
	attempts map[string]int
	accepted chan delivery
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	mac := hmac.New(sha256.New, rc.key)
	mac.Write(body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); r.Header.Get("X-Kiln-Signature") != want {
		rc.t.Errorf("delivery %s: signature %q, want %q", body, r.Header.Get("X-Kiln-Signature"), want)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("X-Kiln-Event-Id")
	rc.mu.Lock()
	rc.attempts[id]++
	n := rc.attempts[id]
	rc.mu.Unlock()
	if n <= rc.failures {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	d := delivery{path: r.URL.Path, eventID: id}
	if err := json.Unmarshal(body, &d.body); err != nil {
		rc.t.Errorf("delivery body %s: %v", body, err)
	}
	w.WriteHeader(http.StatusNoContent)
	rc.accepted <- d
}

// Jobs of a queue and of a pipeline with a notify_url are announced when
// they succeed or go dead, though the receiver refuses the first two
// attempts of each: every delivery arrives, signed, and the deliveries are
// jobs of the _webhooks queue that kilnctl lists.
func TestWebhooksArriveSignedDespiteADownReceiver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret := filepath.Join(e.dir, "webhook.secret")
	key := []byte("a-webhook-key-of-some-length")
	if err := os.WriteFile(secret, append(key, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, key: key, failures: 2, attempts: map[string]int{}, accepted: make(chan delivery, 100)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rc}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	url := "http://" + ln.Addr().String()

	e.writeConfig(t, e.configText("", `
[queues.hooked]
concurrency = 2
max_attempts = 2
backoff_base = "10ms"
backoff_max = "20ms"
notify_url = "`+url+`/queue"

[queues._webhooks]
concurrency = 2
max_attempts = 5
backoff_base = "20ms"
backoff_max = "100ms"

[pipelines.hooked]
queue = "hooked"
output_dir = "`+e.out+`"
notify_url = "`+url+`/pipeline"

[[pipelines.hooked.variants]]
name = "small"
width = 50
format = "jpeg"

[webhooks]
secret_file = "`+secret+`"
timeout = "5s"
`))
	e.start(t)

	ctx := context.Background()
	want := map[string]string{} // job ID -> path.event
	for i := 0; i < 4; i++ {
		j, err := e.client().Submit(ctx, api.SubmitRequest{Type: "noop", Queue: "hooked"})
		if err != nil {
			t.Fatal(err)
		}
		want[j.ID] = "/queue job.succeeded"
	}
	pic := e.picture(t, "hooked.jpg", 120, 80)
	good, err := e.client().Submit(ctx, imageapi.Request("hooked", pic))
	if err != nil {
		t.Fatal(err)
	}
	want[good.ID] = "/pipeline job.succeeded"
	// A picture that vanishes before its job runs: the job goes dead.
	if err := e.client().Pause(ctx, "hooked"); err != nil {
		t.Fatal(err)
	}
	doomedPic := e.picture(t, "vanishing.jpg", 120, 80)
	doomed, err := e.client().Submit(ctx, imageapi.Request("hooked", doomedPic))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(doomedPic)
	if err := e.client().Resume(ctx, "hooked"); err != nil {
		t.Fatal(err)
	}
	want[doomed.ID] = "/pipeline job.dead"
	// A job in a queue without a notify_url is not announced.
	quiet, err := e.client().Submit(ctx, api.SubmitRequest{Type: "noop", Queue: "images"})
	if err != nil {
		t.Fatal(err)
	}
	e.finished(t, quiet.ID)

	got := map[string]string{}
	deadline := time.After(60 * time.Second)
	for len(got) < len(want) {
		select {
		case d := <-rc.accepted:
			if _, dup := got[d.body.Job.ID]; dup {
				t.Fatalf("job %s announced twice", d.body.Job.ID)
			}
			got[d.body.Job.ID] = d.path + " " + d.body.Event
			if d.eventID == "" || string(d.body.Job.State) != strings.TrimPrefix(d.body.Event, "job.") {
				t.Errorf("delivery %+v: event ID header or state wrong", d)
			}
		case <-deadline:
			t.Fatalf("after 60 s, %d of %d deliveries arrived: %v", len(got), len(want), got)
		}
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("job %s: delivered %q, want %q", id, got[id], w)
		}
	}

	r := e.kilnctl(t, "jobs", "-queue", "_webhooks", "-json")
	deliveries := decodeJSONLines[api.Job](t, r.stdout)
	if len(deliveries) != len(want) {
		t.Fatalf("kilnctl jobs -queue _webhooks lists %d deliveries, want %d:\n%s%s", len(deliveries), len(want), r.stdout, r.stderr)
	}
	for _, dj := range deliveries {
		if dj.Type != "webhook" || dj.State != "succeeded" || dj.Attempts != rc.failures+1 {
			t.Errorf("delivery job %s: %s %s after %d attempts, want webhook succeeded after %d", dj.ID, dj.Type, dj.State, dj.Attempts, rc.failures+1)
		}
	}
	select {
	case d := <-rc.accepted:
		t.Fatalf("an extra delivery arrived: %+v", d)
	default:
	}
}
