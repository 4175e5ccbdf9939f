package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"kiln/api"
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
	s, err := k.client.NewSubmitter(ctx, window)
	if err != nil {
		return err
	}
	sent := make(chan error, 1)
	go func() {
		defer s.Close()
		for i := 0; i < n; i++ {
			if err := s.Submit(ctx, strconv.Itoa(i), api.SubmitRequest{Type: worker.NoopType, Queue: "bench", Payload: json.RawMessage(payload)}); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	acked := 0
	var firstErr error
	for a := range s.Acks() {
		if a.Err != nil && firstErr == nil {
			firstErr = fmt.Errorf("job %s: %w", a.Tag, a.Err)
		}
		acked++
	}
	if err := <-sent; err != nil {
		return err
	}
	if firstErr != nil {
		return firstErr
	}
	if acked != n {
		return fmt.Errorf("%d of %d jobs answered", acked, n)
	}
	return nil
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

// kilndStreamSystem is kilnd on its local backend, fed through the stream.
type kilndStreamSystem struct {
	*kilndSystem
	stream *streamClient
}

func newKilndStream(name, dir string, consumers int) (system, error) {
	s, err := newKilnd(name, dir, consumers)
	if err != nil {
		return nil, err
	}
	k := s.(*kilndSystem)
	return &kilndStreamSystem{kilndSystem: k, stream: newStreamClient(k.client)}, nil
}

func (k *kilndStreamSystem) name() string { return "kiln-daemon-stream" }

func (k *kilndStreamSystem) submit(ctx context.Context, payload []byte) error {
	return k.stream.submit(ctx, payload)
}

func (k *kilndStreamSystem) submitPipelined(ctx context.Context, payload []byte, n, window int) error {
	return k.stream.submitPipelined(ctx, payload, n, window)
}

func (k *kilndStreamSystem) close() error {
	k.stream.closeStream()
	return k.kilndSystem.close()
}
