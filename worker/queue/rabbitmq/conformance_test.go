package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/internal/rabbitnode"
	"kiln/worker"
	"kiln/worker/queuetest"
)

// node is the broker the package's tests share, started by TestMain.
var node *rabbitnode.Node

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		// Fuzzing (FuzzAppendJob) needs no broker, and each fuzz worker
		// process would start one of its own.
		os.Exit(m.Run())
	}
	if err := rabbitnode.Available(); err != nil {
		if rabbitnode.Root() != "" {
			// Asked for that broker: passing by skipping would hide it.
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "skipping the RabbitMQ tests:", err)
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "kiln-rmq-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	g, err := rabbitnode.NewGroup(dir)
	if err == nil {
		node, err = g.Start("kiln")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if g != nil {
			g.Close()
		}
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, node.Describe())
	code := m.Run()
	g.Close()
	if code == 0 {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

func needNode(t *testing.T) {
	t.Helper()
	if node == nil {
		t.Skip("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
	}
}

// testQueues is the config the suite's queues run under: "q" is
// configured (consumed from the start), the others are consumed from
// their first lease.
func testQueues() map[string]worker.QueueConfig {
	cfg := worker.DefaultQueueConfig()
	cfg.Concurrency, cfg.MaxAttempts = 16, 3
	return map[string]worker.QueueConfig{"q": cfg}
}

func randomPrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:])
}

// openQueue opens a queue under prefix and deletes what it declared when
// the test ends.
func openQueue(t *testing.T, url, prefix string, maxQueued worker.MaxQueued) *Queue {
	t.Helper()
	return openQueueWith(t, url, Options{URLs: []string{url}, Prefix: prefix, Queues: testQueues, MaxQueued: maxQueued, Log: testLog(t),
		RecordsFile: filepath.Join(t.TempDir(), "records.db")})
}

// openQueueWith is openQueue with options of the test's own.
func openQueueWith(t *testing.T, url string, opts Options) *Queue {
	t.Helper()
	q, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := q.WaitReady(ctx); err != nil {
		q.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		q.Close()
		deleteTopology(t, url, q)
	})
	return q
}

// declaredTopology lists the queues and exchanges q declared, so that a
// test can delete them.
func declaredTopology(q *Queue) (queues, exchanges []string) {
	n := q.names
	q.mu.Lock()
	defer q.mu.Unlock()
	for name := range q.declared {
		queues = append(queues, name)
	}
	queues = append(queues, n.records())
	exchanges = []string{n.jobsExchange(), n.deadExchange(), n.delayExchange(), n.eventsExchange()}
	return queues, exchanges
}

func deleteTopology(t *testing.T, url string, q *Queue) {
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Logf("delete test topology: %v", err)
		return
	}
	defer conn.Close()
	queues, exchanges := declaredTopology(q)
	for _, name := range queues {
		if ch, err := conn.Channel(); err == nil {
			ch.QueueDelete(name, false, false, false)
			ch.Close()
		}
	}
	for _, name := range exchanges {
		if ch, err := conn.Channel(); err == nil {
			ch.ExchangeDelete(name, false, false)
			ch.Close()
		}
	}
}

func TestConformance(t *testing.T) {
	runConformance(t, false)
}

// The same suite with every second host one that keeps no job records
// (lighthost.go): what a host shows of another's jobs, it asks of a host
// that keeps them.
func TestConformance_PeersKeepNoRecords(t *testing.T) {
	runConformance(t, true)
}

func runConformance(t *testing.T, lightPeers bool) {
	needNode(t)
	url := node.URL("")
	// What a crashed queue is reopened with; the cases run in parallel.
	type opened struct {
		prefix    string
		maxQueued worker.MaxQueued
	}
	var mu sync.Mutex
	opens := map[*Queue]opened{}
	queuetest.Run(t, queuetest.Backend{
		Open: func(t *testing.T, maxQueued worker.MaxQueued) worker.Queue {
			prefix := randomPrefix()
			q := openQueue(t, url, prefix, maxQueued)
			mu.Lock()
			opens[q] = opened{prefix, maxQueued}
			mu.Unlock()
			return q
		},
		Crash: func(t *testing.T, old worker.Queue) worker.Queue {
			oq := old.(*Queue)
			held := oq.leasedJobs()
			// Closing the connection without an answer for the leased
			// jobs is what the broker sees of a kill -9: it hands them to
			// the next consumer.
			oq.Close()
			mu.Lock()
			o := opens[oq]
			mu.Unlock()
			// The same host again: its records file is read on.
			q := openQueueWith(t, url, Options{URLs: []string{url}, Prefix: o.prefix, Queues: testQueues, MaxQueued: o.maxQueued, Log: testLog(t),
				RecordsFile: oq.opts.RecordsFile})
			mu.Lock()
			opens[q] = o
			mu.Unlock()
			waitRedelivered(t, q, held)
			return q
		},
		Peer: func(t *testing.T, old worker.Queue) worker.Queue {
			mu.Lock()
			o := opens[old.(*Queue)]
			mu.Unlock()
			return openQueueWith(t, url, Options{URLs: []string{url}, Prefix: o.prefix, Queues: testQueues, MaxQueued: o.maxQueued, Log: testLog(t),
				RecordsFile: filepath.Join(t.TempDir(), "records.db"), NoRecords: lightPeers})
		},
	})
}

// waitRedelivered consumes the queues of the jobs a crashed process held
// until the broker has handed each of them to q: in hand, or settled (a
// job out of attempts ends dead on delivery).
func waitRedelivered(t *testing.T, q *Queue, held map[string]string) {
	t.Helper()
	for _, queue := range held {
		if err := q.Consume(queue); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		waiting := 0
		for id, queue := range held {
			if !q.delivered(queue, id) {
				waiting++
			}
		}
		if waiting == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs not delivered again 30s after their process crashed", waiting)
		}
		time.Sleep(20 * time.Millisecond) // polling for the broker's redelivery
	}
}

// leasedJobs lists the jobs this process holds, with their queues.
func (q *Queue) leasedJobs() map[string]string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[string]string{}
	for id, ls := range q.leased {
		out[id] = ls.d.job.Queue
	}
	return out
}

// delivered reports whether job id is in this process's hands, or
// finished.
func (q *Queue) delivered(queue, id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if r := q.records[id]; r != nil && r.job.State.Terminal() {
		return true
	}
	if _, ok := q.leased[id]; ok {
		return true
	}
	if qs := q.queues[queue]; qs != nil {
		for _, d := range append(qs.buf, qs.held...) {
			if d.job.ID == id {
				return true
			}
		}
	}
	return false
}

// testLog writes the queue's log lines into the test's output.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
