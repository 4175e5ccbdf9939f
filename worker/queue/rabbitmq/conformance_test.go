package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
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
	if err := rabbitnode.Available(); err != nil {
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
	return openQueueWith(t, url, Options{URLs: []string{url}, Prefix: prefix, Queues: testQueues, MaxQueued: maxQueued, Log: testLog(t)})
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

func deleteTopology(t *testing.T, url string, q *Queue) {
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Logf("delete test topology: %v", err)
		return
	}
	defer conn.Close()
	queues, exchanges := q.Declared()
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
			// Closing the connection without an answer for the leased
			// jobs is what the broker sees of a kill -9: it hands them to
			// the next consumer.
			oq.Close()
			mu.Lock()
			o := opens[oq]
			mu.Unlock()
			q := openQueue(t, url, o.prefix, o.maxQueued)
			mu.Lock()
			opens[q] = o
			mu.Unlock()
			waitNoneRunning(t, q)
			return q
		},
	})
}

// waitNoneRunning consumes the queues whose jobs were running in the
// crashed process until the broker has handed them back.
func waitNoneRunning(t *testing.T, q *Queue) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		running, err := q.List(ctx, "", worker.StateRunning, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(running) == 0 {
			return
		}
		for _, j := range running {
			if err := q.Consume(j.Queue); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still running 30s after their process crashed", len(running))
		}
		time.Sleep(20 * time.Millisecond) // polling the records for the broker's redelivery
	}
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
