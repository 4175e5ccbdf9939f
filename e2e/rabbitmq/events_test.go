package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kiln/api"
	"kiln/internal/rabbitnode"
)

// errEnough ends a read of the event stream.
var errEnough = errors.New("enough events")

// A client follows /v1/events on one host while jobs run on all three,
// disconnects half way, and resumes on another host with Last-Event-ID:
// it gets every event of every job once, in the order of their IDs, none
// missing.
func TestEventsFollowAcrossHosts(t *testing.T) {
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	prefix := uniquePrefix(t)
	cfg := hostConfig{urls: []string{brokerURL(node, "")}, prefix: prefix}
	a := startHost(t, "a", pics, cfg)
	b := startHost(t, "b", pics, cfg)
	c := startHost(t, "c", pics, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	type seen struct {
		id    uint64
		job   string
		state string
		from  string
	}
	var mu sync.Mutex
	var got []seen
	// The prefix is the test's own, so its stream holds only this test's
	// events: the first read starts at the stream's start.
	read := func(h *host, since uint64, stopAt int) error {
		return h.client().Events(ctx, api.EventsRequest{Since: since, FromStart: since == 0, Queue: "images", Follow: true}, func(it api.StreamItem) error {
			if it.Gap != nil {
				return fmt.Errorf("a gap on %s after %d", h.name, it.Gap.After)
			}
			if it.Event == nil {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			got = append(got, seen{it.Event.ID, it.Event.Job, string(it.Event.State), string(it.Event.From)})
			if len(got) >= stopAt {
				return errEnough
			}
			return nil
		})
	}
	const jobs = 60
	first := make(chan error, 1)
	go func() { first <- read(a, 0, 3*jobs/2) }()
	ids := submitImages(t, b, pics, jobs)
	if err := <-first; !errors.Is(err, errEnough) {
		t.Fatalf("first read on a: %v", err)
	}
	mu.Lock()
	last := got[len(got)-1].id
	mu.Unlock()
	if err := read(c, last, 3*jobs); !errors.Is(err, errEnough) {
		t.Fatalf("resumed read on c after %d: %v", last, err)
	}

	// The events of one job come from two hosts when one took it and
	// another ran it; the submitter's queued event is confirmed before
	// the job's message goes out, so the stream has them in order.
	byJob := map[string][]string{}
	for i, e := range got {
		if i > 0 && e.id <= got[i-1].id {
			t.Errorf("event %d after %d: IDs out of order", e.id, got[i-1].id)
		}
		byJob[e.job] = append(byJob[e.job], e.from+">"+e.state)
	}
	for _, id := range ids {
		if s := strings.Join(byJob[id], " "); s != ">queued queued>running running>succeeded" {
			t.Errorf("job %s: events %q, want >queued queued>running running>succeeded", id, s)
		}
	}
	ran := map[string]int{}
	for _, h := range []*host{a, b, c} {
		ran[h.name] = strings.Count(h.stderr.String(), "job succeeded")
	}
	t.Logf("%d events of %d jobs read on a then c (resumed after %d); jobs run per host: %v", len(got), jobs, last, ran)
}

// Every job's end is announced to its notify_url once across the fleet,
// also when the host that announces is killed: the next one takes the
// lead and its cursor, and a delivery repeated across the kill carries the
// same X-Kiln-Event-Id.
func TestWebhooksOncePerFleet(t *testing.T) {
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	prefix := uniquePrefix(t)
	var mu sync.Mutex
	byEvent := map[string]int{}
	byJob := map[string]map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Event string `json:"event"`
			Job   struct {
				ID string `json:"id"`
			} `json:"job"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		id := r.Header.Get("X-Kiln-Event-Id")
		byEvent[id]++
		if byJob[body.Job.ID] == nil {
			byJob[body.Job.ID] = map[string]bool{}
		}
		byJob[body.Job.ID][id] = true
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	secret := filepath.Join(t.TempDir(), "webhook.secret")
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(secret, []byte(fmt.Sprintf("%x\n", key)), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf(`
[queues.hooked]
concurrency = 4
notify_url = %q

[pipelines.hooked]
queue = "hooked"
output_dir = %q

[[pipelines.hooked.variants]]
name = "small"
width = 60
format = "jpeg"

[webhooks]
secret_file = %q
`, srv.URL+"/hook", filepath.Join(t.TempDir(), "hooked"), secret)
	cfg := hostConfig{urls: []string{brokerURL(node, "")}, prefix: prefix, extra: extra}
	hosts := []*host{startHost(t, "a", pics, cfg), startHost(t, "b", pics, cfg)}
	leader := func() *host {
		for _, h := range hosts {
			leads := 0
			for _, line := range strings.Split(h.stderr.String(), "\n") {
				switch {
				case !strings.Contains(line, "lead=webhooks"):
				case strings.Contains(line, "msg=leading"):
					leads++
				case strings.Contains(line, `msg="no longer leading"`):
					leads--
				}
			}
			if h.alive() && leads > 0 {
				return h
			}
		}
		return nil
	}
	var lead *host
	waitFor(t, 30*time.Second, "a host leading the webhooks", func() (string, bool) {
		lead = leader()
		return "none; host a's log ends:\n" + tail(hosts[0].stderr.String(), 15), lead != nil
	})
	submit := func(n int) []string {
		var ids []string
		for len(ids) < n {
			batch := make([]api.SubmitRequest, min(50, n-len(ids)))
			for i := range batch {
				batch[i] = api.SubmitRequest{Type: "image", Payload: json.RawMessage(fmt.Sprintf(`{"pipeline":"hooked","input":%q}`, filepath.Join(pics, "p.jpg")))}
			}
			via := hosts[0]
			if !via.alive() {
				via = hosts[1]
			}
			got, err := via.client().SubmitBatch(context.Background(), batch)
			if err != nil {
				t.Fatalf("submit: %v", err)
			}
			for _, s := range got {
				ids = append(ids, s.ID)
			}
		}
		return ids
	}
	announced := func(ids []string) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		missing := 0
		for _, id := range ids {
			if len(byJob[id]) == 0 {
				missing++
			}
		}
		return fmt.Sprintf("%d of %d jobs not announced", missing, len(ids)), missing == 0
	}
	ids := submit(40)
	waitFor(t, 2*time.Minute, "every job announced", func() (string, bool) { return announced(ids) })

	// Kill the announcer; jobs submitted then are announced by the other.
	lead.kill()
	more := submit(40)
	waitFor(t, 2*time.Minute, "every job announced after the announcer was killed", func() (string, bool) { return announced(append(ids, more...)) })
	var next *host
	waitFor(t, 30*time.Second, "another host leading", func() (string, bool) {
		next = leader()
		return "none", next != nil && next != lead
	})

	mu.Lock()
	defer mu.Unlock()
	repeated, twice := 0, 0
	for _, n := range byEvent {
		if n > 1 {
			repeated++
		}
	}
	for _, id := range append(ids, more...) {
		if len(byJob[id]) > 1 {
			twice++
		}
	}
	// Only the events around the kill may be delivered again (same ID);
	// a job is never announced under two event IDs unless it ended twice.
	if twice > 0 {
		t.Errorf("%d jobs announced under two event IDs", twice)
	}
	t.Logf("%d deliveries of %d events for %d jobs; %d events delivered more than once (around the kill of %s); now leading: %s",
		sum(byEvent), len(byEvent), len(ids)+len(more), repeated, lead.name, next.name)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
