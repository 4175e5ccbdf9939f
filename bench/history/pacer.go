package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"kiln/api"
	"kiln/bench/internal/kilnload"
)

// pacer holds the history's submits back while too many of its jobs wait
// to run: the history is meant to be jobs that ran, not a backlog, and a
// backlog of hundreds of thousands would measure the queue's depth
// instead. It follows one host's succeeded count.
type pacer struct {
	client   *api.Client
	n        int           // the history's size, for the progress lines
	stall    time.Duration // how long the count may stand still before the run fails
	progress time.Duration // how often a progress line is printed

	mu        sync.Mutex
	changed   *sync.Cond
	succeeded int
	movedAt   time.Time // when succeeded last rose
	err       error     // why the count can no longer be followed
	done      bool
}

func newPacer(client *api.Client, n int, stall time.Duration) *pacer {
	p := &pacer{client: client, n: n, stall: stall, progress: 10 * time.Second, movedAt: time.Now()}
	p.changed = sync.NewCond(&p.mu)
	return p
}

// follow polls the succeeded count until stop is called, waking every
// waiter at each reading so that each sees both the count and the time.
func (p *pacer) follow(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastLine := time.Now()
	for {
		ask, cancel := context.WithTimeout(ctx, askTimeout)
		n, err := kilnload.Succeeded(ask, p.client, benchQueue)
		cancel()
		p.mu.Lock()
		if err != nil {
			p.err = fmt.Errorf("follow the history's succeeded count: %w", err)
		} else if n > p.succeeded {
			p.succeeded, p.movedAt = n, time.Now()
		}
		if p.err == nil && time.Since(p.movedAt) > p.stall {
			p.err = fmt.Errorf("the succeeded count stood at %d for %s", p.succeeded, p.stall)
		}
		stop := p.done || p.err != nil
		p.changed.Broadcast()
		p.mu.Unlock()
		if stop {
			return
		}
		if time.Since(lastLine) >= p.progress {
			progress("history %d: %d succeeded", p.n, n)
			lastLine = time.Now()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// waitFor returns once at least n jobs have succeeded, or with why they
// will not.
func (p *pacer) waitFor(n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.succeeded < n {
		if p.err != nil {
			return p.err
		}
		if p.done {
			return fmt.Errorf("pacer stopped at %d of %d succeeded", p.succeeded, n)
		}
		p.changed.Wait()
	}
	return nil
}

// stop ends follow at its next reading.
func (p *pacer) stop() {
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
}
