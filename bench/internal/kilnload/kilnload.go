// Package kilnload puts jobs through a running kilnd the way an application
// with many jobs at hand does, and waits for them to be done: what the
// benchmarks that drive the real daemon share.
package kilnload

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"kiln/api"
	"kiln/kilntype"
)

// SubmitStream submits n copies of req over one streaming submit, with at
// most window of them unanswered, and returns once every one is durable:
// the first refusal or broken stream is the error.
func SubmitStream(ctx context.Context, client *api.Client, req api.SubmitRequest, n, window int) error {
	s, err := client.NewSubmitter(ctx, window)
	if err != nil {
		return fmt.Errorf("open streaming submit: %w", err)
	}
	sent := make(chan error, 1)
	go func() {
		defer s.Close()
		for i := 0; i < n; i++ {
			if err := s.Submit(ctx, strconv.Itoa(i), req); err != nil {
				sent <- fmt.Errorf("stream job %d of %d: %w", i, n, err)
				return
			}
		}
		sent <- nil
	}()
	acked := 0
	var refused error
	for a := range s.Acks() {
		if a.Err != nil && refused == nil {
			refused = fmt.Errorf("streamed job %s: %w", a.Tag, a.Err)
		}
		acked++
	}
	if err := <-sent; err != nil {
		return err
	}
	if refused != nil {
		return refused
	}
	if acked != n {
		return fmt.Errorf("streaming submit: %d of %d jobs answered", acked, n)
	}
	return nil
}

// Succeeded is how many succeeded jobs a kilnd's status counts in queue.
func Succeeded(ctx context.Context, client *api.Client, queue string) (int, error) {
	st, err := client.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("status: %w", err)
	}
	if q := st.Queues[queue]; q != nil {
		return q.Counts[kilntype.StateSucceeded], nil
	}
	return 0, nil
}

// WaitSucceeded polls a kilnd's status until queue has at least n
// succeeded jobs, or ctx ends.
func WaitSucceeded(ctx context.Context, client *api.Client, queue string, n int) error {
	for {
		got, err := Succeeded(ctx, client, queue)
		if err != nil {
			return err
		}
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d succeeded jobs in %s (status says %d): %w", n, queue, got, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}
