package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"kiln/api"
	"kiln/bench/internal/kilnload"
	"kiln/worker"
)

// streamClient feeds a kilnd through its streaming submit: each client
// keeps up to a window of jobs unanswered on one connection, each job
// answered once durable, as an application with many jobs at hand would.
type streamClient struct {
	client *api.Client

	// The latency runs share one stream: a submit waits for its own answer.
	once    sync.Once
	shared  *api.Submitter
	openErr error
	tags    atomic.Int64
	mu      sync.Mutex
	waiting map[string]chan error
}

func newStreamClient(client *api.Client) *streamClient {
	return &streamClient{client: client, waiting: map[string]chan error{}}
}

func (k *streamClient) submitPipelined(ctx context.Context, payload []byte, n, window int) error {
	return kilnload.SubmitStream(ctx, k.client, api.SubmitRequest{Type: worker.NoopType, Queue: "bench", Payload: json.RawMessage(payload)}, n, window)
}

// submit sends one job on the shared stream and waits for its answer.
func (k *streamClient) submit(ctx context.Context, payload []byte) error {
	k.once.Do(func() {
		k.shared, k.openErr = k.client.NewSubmitter(context.Background(), 1024)
		if k.openErr == nil {
			go k.dispatch()
		}
	})
	if k.openErr != nil {
		return k.openErr
	}
	tag := strconv.FormatInt(k.tags.Add(1), 10)
	done := make(chan error, 1)
	k.mu.Lock()
	k.waiting[tag] = done
	k.mu.Unlock()
	if err := k.shared.Submit(ctx, tag, api.SubmitRequest{Type: worker.NoopType, Queue: "bench", Payload: json.RawMessage(payload)}); err != nil {
		return err
	}
	return <-done
}

func (k *streamClient) dispatch() {
	for a := range k.shared.Acks() {
		k.mu.Lock()
		done := k.waiting[a.Tag]
		delete(k.waiting, a.Tag)
		k.mu.Unlock()
		if done != nil {
			done <- a.Err
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for tag, done := range k.waiting {
		done <- errors.New("stream ended before the answer")
		delete(k.waiting, tag)
	}
}

func (k *streamClient) closeStream() {
	if k.shared != nil {
		k.shared.Close()
	}
}

// streamedSystem is a kilnd system fed through the streaming submit
// rather than one request per job: kiln-daemon-stream on the local
// backend, kiln-rabbitmq-stream on RabbitMQ (where kilnd publishes the
// jobs that arrive together in one window of confirms, as raw RabbitMQ
// with pipelined confirms does).
type streamedSystem struct {
	system
	label  string
	stream *streamClient
}

func streamed(s system, client *api.Client, label string) *streamedSystem {
	return &streamedSystem{system: s, label: label, stream: newStreamClient(client)}
}

func (k *streamedSystem) name() string { return k.label }

func (k *streamedSystem) servers() servers { return serversOf(k.system) }

func (k *streamedSystem) submit(ctx context.Context, payload []byte) error {
	return k.stream.submit(ctx, payload)
}

func (k *streamedSystem) submitPipelined(ctx context.Context, payload []byte, n, window int) error {
	return k.stream.submitPipelined(ctx, payload, n, window)
}

func (k *streamedSystem) close() error {
	k.stream.closeStream()
	return k.system.close()
}
