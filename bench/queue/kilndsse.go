package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"kiln/api"
)

// kilndSubscribed is the kiln-daemon system with one client following the
// event stream (GET /v1/events) the whole time: what the events cost the
// submit path, and how many events a second one client receives.
type kilndSubscribed struct {
	*kilndSystem
	cancel context.CancelFunc
	done   chan error

	mu          sync.Mutex
	events      int
	first, last time.Time
}

func newKilndWithSubscriber(dir string, consumers int) (system, error) {
	s, err := newKilnd("kiln-daemon-sse", dir, consumers, true)
	if err != nil {
		return nil, err
	}
	k := &kilndSubscribed{kilndSystem: s.(*kilndSystem), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	go func() {
		k.done <- k.client.Events(ctx, api.EventsRequest{FromStart: true, Follow: true}, func(it api.StreamItem) error {
			if it.Gap != nil {
				return fmt.Errorf("gap in the event stream: %+v", *it.Gap)
			}
			now := time.Now()
			k.mu.Lock()
			if k.events == 0 {
				k.first = now
			}
			k.events++
			k.last = now
			k.mu.Unlock()
			return nil
		})
	}()
	return k, nil
}

func (k *kilndSubscribed) name() string { return "kiln-daemon-sse" }

func (k *kilndSubscribed) close() error {
	// Every no-op job makes three events (queued, running, succeeded): wait
	// until the client has them all, and say how far behind it was.
	caughtUp := time.Now()
	if st, err := k.client.Status(context.Background()); err == nil && st.Queues["bench"] != nil {
		want := 3 * st.Queues["bench"].Counts["succeeded"]
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			k.mu.Lock()
			n := k.events
			k.mu.Unlock()
			if n >= want {
				break
			}
		}
		fmt.Fprintf(os.Stderr, "kiln-daemon-sse: the client had every one of the %d events %.0f ms after the last job finished\n", want, float64(time.Since(caughtUp))/float64(time.Millisecond))
	}
	k.mu.Lock()
	n, span := k.events, k.last.Sub(k.first)
	k.mu.Unlock()
	k.cancel()
	if err := <-k.done; err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "kiln-daemon-sse: event stream: %v\n", err)
	}
	if span > 0 {
		fmt.Fprintf(os.Stderr, "kiln-daemon-sse: one SSE client received %d events in %.1f s: %.0f events/s\n", n, span.Seconds(), float64(n)/span.Seconds())
	}
	return k.kilndSystem.close()
}
