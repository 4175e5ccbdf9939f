package rabbitmq

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/api"
	"kiln/e2e/instance"
	"kiln/internal/rabbitnode"
	"kiln/worker/image/imageapi"
	"kiln/worker/image/imagetest"
)

var binDir string

func TestMain(m *testing.M) {
	if os.Getenv("KILN_TEST_RABBITMQ") != "1" {
		fmt.Println("skipping kilnd-on-RabbitMQ tests: set KILN_TEST_RABBITMQ=1 (make test-rabbitmq)")
		os.Exit(0)
	}
	if err := rabbitnode.Available(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := instance.BuildBinaries("kiln-rmq-bin-", false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// host is one kilnd with its own directory, socket, state and outputs, as
// a machine of its own would have.
type host struct {
	name   string
	dir    string
	config string
	socket string
	out    string
	proc   *instance.Process
	stderr *instance.LogBuffer
}

// hostConfig is what a test varies in a host's config.
type hostConfig struct {
	urls        []string
	prefix      string
	concurrency int
	password    string // in the password file; "guest" when empty
	extra       string // more tables: queues, pipelines, broker keys
}

// brokerURL is a node's URL for kilnd: user guest, the password in the
// password file.
func brokerURL(n *rabbitnode.Node, vhost string) string {
	return strings.Replace(n.URL(vhost), "guest:guest@", "guest@", 1)
}

// picDir holds the pictures every host may read (the claim-check store
// the hosts share).
func picDir(t *testing.T) string {
	t.Helper()
	dir := shortDir(t, "kp")
	if err := os.WriteFile(filepath.Join(dir, "p.jpg"), imagetest.JPEG(120, 90), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func shortDir(t *testing.T, prefix string) string {
	t.Helper()
	// Unix socket paths are limited to 108 bytes: keep directories short.
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func writeHostConfig(t *testing.T, name, pics string, c hostConfig) *host {
	t.Helper()
	dir := shortDir(t, "kh")
	h := &host{name: name, dir: dir, config: filepath.Join(dir, "kiln.toml"), socket: filepath.Join(dir, "kiln.sock"),
		out: filepath.Join(dir, "out"), stderr: &instance.LogBuffer{}}
	if c.concurrency == 0 {
		c.concurrency = 4
	}
	if c.password == "" {
		c.password = "guest"
	}
	pwFile := filepath.Join(dir, "broker.password")
	if err := os.WriteFile(pwFile, []byte(c.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	quoted := make([]string, len(c.urls))
	for i, u := range c.urls {
		quoted[i] = fmt.Sprintf("%q", u)
	}
	text := fmt.Sprintf(`[daemon]
state_dir = %q
pidfile = %q
socket = %q
shutdown_timeout = "10s"

[log]
target = "stderr"
level = "info"

[images]
allowed_input_roots = [%q]

[queues.images]
concurrency = %d
max_attempts = 3
backoff_base = "50ms"
backoff_max = "200ms"

[pipelines.web]
queue = "images"
output_dir = %q

[[pipelines.web.variants]]
name = "small"
width = 60
format = "jpeg"

[broker]
backend = "rabbitmq"
urls = [%s]
password_file = %q
prefix = %q
%s`, filepath.Join(dir, "state"), filepath.Join(dir, "kilnd.pid"), h.socket, pics, c.concurrency, filepath.Join(h.out, "web"),
		strings.Join(quoted, ", "), pwFile, c.prefix, c.extra)
	if err := os.WriteFile(h.config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// startHost starts a kilnd and stops it when the test ends.
func startHost(t *testing.T, name, pics string, c hostConfig) *host {
	t.Helper()
	h := writeHostConfig(t, name, pics, c)
	h.start(t)
	return h
}

func (h *host) start(t *testing.T) {
	t.Helper()
	p, err := instance.Launch(filepath.Join(binDir, "kilnd"), h.config, filepath.Join(h.dir, "notify.sock"), nil, h.stderr)
	if err != nil {
		t.Fatalf("start kilnd %s: %v\n%s", h.name, err, h.stderr.String())
	}
	h.proc = p
	t.Cleanup(func() { h.stop(t) })
}

// stop ends the kilnd with SIGTERM, if it still runs.
func (h *host) stop(t *testing.T) {
	select {
	case <-h.proc.Exited:
		return
	default:
	}
	h.proc.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.proc.Exited:
	case <-time.After(30 * time.Second):
		h.proc.Cmd.Process.Kill()
		<-h.proc.Exited
		t.Errorf("kilnd %s did not stop within 30s of SIGTERM", h.name)
	}
	h.proc.Notify.Close()
	if t.Failed() {
		t.Logf("kilnd %s log:\n%s", h.name, tail(h.stderr.String(), 60))
	}
}

// kill ends the kilnd with SIGKILL.
func (h *host) kill() {
	h.proc.Cmd.Process.Kill()
	<-h.proc.Exited
}

func (h *host) client() *api.Client { return api.NewClient(h.socket) }

// metric is the value of an unlabelled metric in the host's /metrics, read
// over its socket.
func (h *host) metric(t *testing.T, name string) string {
	t.Helper()
	scrape, err := instance.Scrape(h.socket)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := instance.MetricValue(scrape, name)
	if !ok {
		t.Fatalf("no %s in /metrics:\n%s", name, scrape)
	}
	return v
}

func (h *host) pid() int { return h.proc.Cmd.Process.Pid }

func (h *host) alive() bool {
	select {
	case <-h.proc.Exited:
		return false
	default:
		return true
	}
}

// kilnctl runs kilnctl against the host.
func (h *host) kilnctl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, "kilnctl"), append([]string{"-socket", h.socket}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// submitImages submits n image jobs through h in batches, returning the IDs
// the daemon confirmed.
func submitImages(t *testing.T, h *host, pics string, n int) []string {
	t.Helper()
	var ids []string
	for len(ids) < n {
		batch := make([]api.SubmitRequest, min(100, n-len(ids)))
		for i := range batch {
			batch[i] = imageapi.Request("web", filepath.Join(pics, "p.jpg"))
		}
		got, err := h.client().SubmitBatch(context.Background(), batch)
		if err != nil {
			t.Fatalf("submit through %s: %v", h.name, err)
		}
		for _, s := range got {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// jobEvent is the part of kiln's events the tests read.
type jobEvent struct {
	Kind string `json:"kind"`
	Host string `json:"host"`
	Seq  uint64 `json:"seq"`
	Gen  int    `json:"gen"`
	Job  *struct {
		ID         string    `json:"id"`
		Queue      string    `json:"queue"`
		State      string    `json:"state"`
		Attempts   int       `json:"attempts"`
		FinishedAt time.Time `json:"finished_at"`
	} `json:"job"`
}

// tally counts, from the records stream, the runs and outcomes of jobs.
type tally struct {
	mu        sync.Mutex
	seen      map[string]bool     // events counted, by job, generation, sequence and host
	runs      map[string][]string // job → hosts of its running events, in order
	succeeded map[string]int
	dead      map[string]int
	finished  map[string]time.Time   // job → its first success's finish time
	ends      map[string][]time.Time // host → the finish times of its successes
}

func newTally() *tally {
	return &tally{seen: map[string]bool{}, runs: map[string][]string{}, succeeded: map[string]int{}, dead: map[string]int{}, finished: map[string]time.Time{}, ends: map[string][]time.Time{}}
}

func (tl *tally) add(e *jobEvent) {
	if e.Kind != "job" || e.Job == nil {
		return
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	// A host publishes an event message again when the stream lost it
	// (or seemed to): one event is counted once.
	key := fmt.Sprintf("%s/%d/%d/%s", e.Job.ID, e.Gen, e.Seq, e.Host)
	if tl.seen[key] {
		return
	}
	tl.seen[key] = true
	switch e.Job.State {
	case "running":
		tl.runs[e.Job.ID] = append(tl.runs[e.Job.ID], e.Host)
	case "succeeded":
		tl.succeeded[e.Job.ID]++
		tl.ends[e.Host] = append(tl.ends[e.Host], e.Job.FinishedAt)
		if _, ok := tl.finished[e.Job.ID]; !ok {
			tl.finished[e.Job.ID] = e.Job.FinishedAt
		}
	case "dead":
		tl.dead[e.Job.ID]++
	}
}

// succeededAll reports whether every one of ids has succeeded.
func (tl *tally) succeededAll(ids []string) (int, bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := 0
	for _, id := range ids {
		if tl.succeeded[id] > 0 {
			n++
		}
	}
	return n, n == len(ids)
}

// describeMissing names up to n jobs of ids the tally has not seen
// succeed, with what each host says of them and the runs the tally saw:
// what a failure needs to be understood.
func (tl *tally) describeMissing(ids []string, n int, hosts ...*host) string {
	tl.mu.Lock()
	var missing []string
	runs := map[string][]string{}
	for _, id := range ids {
		if tl.succeeded[id] == 0 && len(missing) < n {
			missing = append(missing, id)
			runs[id] = tl.runs[id]
		}
	}
	tl.mu.Unlock()
	var parts []string
	for _, id := range missing {
		part := fmt.Sprintf("%s (runs %v", id, runs[id])
		for _, h := range hosts {
			j, err := h.client().Job(context.Background(), id, 0)
			if err != nil {
				part += fmt.Sprintf("; %s: %v", h.name, err)
			} else {
				part += fmt.Sprintf("; %s: %s attempts %d", h.name, j.State, j.Attempts)
			}
		}
		parts = append(parts, part+")")
	}
	return strings.Join(parts, ", ")
}

// firstRuns counts, per host, the jobs of ids whose first run was there.
func (tl *tally) firstRuns(ids []string) map[string]int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	byHost := map[string]int{}
	for _, id := range ids {
		if runs := tl.runs[id]; len(runs) > 0 {
			byHost[runs[0]]++
		}
	}
	return byHost
}

// reruns counts the jobs of ids that ran more than once.
func (tl *tally) reruns(ids []string) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := 0
	for _, id := range ids {
		if len(tl.runs[id]) > 1 {
			n++
		}
	}
	return n
}

func (tl *tally) successes() int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return len(tl.succeeded)
}

// follow reads the records stream of prefix from its start into a tally
// until the test ends, reconnecting (to any of urls) from the offset after
// the last event read when the broker goes away.
func follow(t *testing.T, urls []string, prefix string) *tally {
	tl := newTally()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		var pos streamPos
		for i := 0; ctx.Err() == nil; i++ {
			conn, err := amqp.Dial(urls[i%len(urls)])
			if err != nil {
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond): // the broker is coming back
				}
				continue
			}
			readStream(ctx, conn, prefix+".records", &pos, tl)
			conn.Close()
		}
	}()
	return tl
}

// streamPos is where a follower of the records stands: the next offset,
// and the last jump of offsets it saw, with how many times in a row.
type streamPos struct {
	next     int64
	jump     [2]int64
	jumpSeen int
}

// jumpConfirmations is how many times in a row a follower sees the same
// jump before it reads past it: the broker keeps an entry of its own at
// the start of each stream segment, an offset that no consumer is
// delivered, and a follower that took that for a lagging replica would
// never get past the first segment.
const jumpConfirmations = 3

// readPast counts a jump from the next offset to off and reports whether
// it has been seen often enough to be such an entry.
func (p *streamPos) readPast(off int64) bool {
	if p.jump != [2]int64{p.next, off} {
		p.jump, p.jumpSeen = [2]int64{p.next, off}, 0
	}
	p.jumpSeen++
	return p.jumpSeen >= jumpConfirmations
}

func readStream(ctx context.Context, conn *amqp.Connection, stream string, pos *streamPos, tl *tally) {
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	ch.Qos(1000, 0, false)
	var from any = "first"
	if pos.next > 0 {
		from = pos.next
	}
	ds, err := ch.Consume(stream, "", false, false, false, false, amqp.Table{"x-stream-offset": from})
	if err != nil {
		return
	}
	// Each kilnd writes a marker to the records every few seconds, so a
	// reader that reads nothing for longer is stuck on a replica that
	// lost its leader: start over on another node.
	idle := time.NewTimer(15 * time.Second)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-idle.C:
			return
		case d, ok := <-ds:
			idle.Reset(15 * time.Second)
			if !ok {
				return
			}
			off, _ := d.Headers["x-stream-offset"].(int64)
			switch {
			case pos.next > 0 && off > pos.next && !pos.readPast(off):
				// A replica that was behind skipped some: read them again
				// on a new connection, once it has had a moment to catch up.
				select {
				case <-ctx.Done():
				case <-time.After(500 * time.Millisecond):
				}
				return
			case off < pos.next:
				d.Ack(false) // a chunk is delivered from its start
				continue
			}
			var evs []jobEvent
			if json.Unmarshal(d.Body, &evs) == nil {
				for i := range evs {
					tl.add(&evs[i])
				}
			}
			pos.next = off + 1
			d.Ack(false)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() (string, bool)) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	for {
		state, ok := cond()
		if ok {
			// How long each stage took tells a slow run's stall from a
			// machine that was slow throughout.
			t.Logf("%s: reached after %s", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s (%s)", what, within, state)
		}
		time.Sleep(50 * time.Millisecond) // polling the system under test
	}
}

// outputsOf lists the hosts whose output directory holds job id's outputs.
func outputsOf(id string, hosts ...*host) []string {
	var where []string
	for _, h := range hosts {
		if _, err := os.Stat(filepath.Join(h.out, "web", id, "small.jpg")); err == nil {
			where = append(where, h.name)
		}
	}
	return where
}

// uniquePrefix names one test's topology on a shared broker.
func uniquePrefix(t *testing.T) string {
	return fmt.Sprintf("k%d", time.Now().UnixNano()%1e9)
}

// trySubmit submits n image jobs in one batch and returns their IDs, or the
// daemon's refusal.
func trySubmit(h *host, pics string, n int) ([]string, error) {
	batch := make([]api.SubmitRequest, n)
	for i := range batch {
		batch[i] = imageapi.Request("web", filepath.Join(pics, "p.jpg"))
	}
	got, err := h.client().SubmitBatch(context.Background(), batch)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(got))
	for i, s := range got {
		ids[i] = s.ID
	}
	return ids, nil
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// twoHostsOnOneNode starts a private RabbitMQ node and two kilnd hosts, a
// and b, sharing its queues under one prefix and one picture directory.
func twoHostsOnOneNode(t *testing.T) (node *rabbitnode.Node, pics, prefix string, a, b *host) {
	t.Helper()
	node = rabbitnode.StartT(t)
	pics = picDir(t)
	prefix = uniquePrefix(t)
	urls := []string{brokerURL(node, "")}
	a = startHost(t, "a", pics, hostConfig{urls: urls, prefix: prefix})
	b = startHost(t, "b", pics, hostConfig{urls: urls, prefix: prefix})
	return node, pics, prefix, a, b
}
