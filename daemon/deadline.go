package daemon

import (
	"context"
	"sync"
	"time"
)

// streamDeadline keeps one direction's deadline of a long-lived request
// (an event stream, a streaming submit) a timeout ahead of its next read
// or write. Once the daemon is stopping it is the stop time plus grace and
// stays there, so that a client that sends or reads nothing cannot hold
// the shutdown up.
type streamDeadline struct {
	set   func(time.Time) error // the ResponseController's SetReadDeadline or SetWriteDeadline
	grace time.Duration

	mu      sync.Mutex
	at      time.Time // the deadline set last
	stopped bool
	unwatch func() bool
}

func newStreamDeadline(stopping context.Context, set func(time.Time) error, grace time.Duration) *streamDeadline {
	d := &streamDeadline{set: set, grace: grace}
	d.unwatch = context.AfterFunc(stopping, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.stopped = true
		d.at = time.Now().Add(d.grace)
		_ = d.set(d.at)
	})
	return d
}

// within gives the next read or write timeout from now. A stream asks
// before each line, and moving a deadline is not free: it is moved only
// once it has fallen short by a little (a second at most), so the next
// read or write has between timeout less that and timeout.
func (d *streamDeadline) within(timeout time.Duration) {
	next := time.Now().Add(timeout)
	slack := min(time.Second, timeout/8)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	if short := next.Sub(d.at); !d.at.IsZero() && short >= 0 && short < slack {
		return
	}
	d.at = next
	_ = d.set(next)
}

// stop ends the watch on the daemon's stopping; the request is done.
func (d *streamDeadline) stop() { d.unwatch() }
