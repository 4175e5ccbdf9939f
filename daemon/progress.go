package daemon

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"time"

	"kiln/api"
	"kiln/worker"
)

// progressEvery is how often at most an event stream sends progress: a
// handler may report thousands of times a second, a reader needs a few.
const progressEvery = 200 * time.Millisecond

// progressFeed is the progress of running jobs as one event stream sends
// it: from the pool, which holds it while the jobs run (it is never
// stored), filtered as the stream's events are. A nil feed sends nothing.
type progressFeed struct {
	pool    *worker.Pool
	filter  worker.EventFilter
	mark    uint64
	sent    time.Time
	changed <-chan struct{}
}

// progressFeed is the feed of a stream that asked for progress (the
// progress query parameter); nil for one that did not, one that does not
// follow, or one whose states leave out running.
func (d *daemon) progressFeed(asked string, filter worker.EventFilter, follow bool) (*progressFeed, error) {
	if asked == "" {
		return nil, nil
	}
	on, err := strconv.ParseBool(asked)
	if err != nil {
		return nil, fmt.Errorf("progress: %q is not true or false", asked)
	}
	if !on || !follow || d.pool == nil || (len(filter.States) > 0 && !slices.Contains(filter.States, worker.StateRunning)) {
		return nil, nil
	}
	return &progressFeed{pool: d.pool, filter: worker.EventFilter{Queue: filter.Queue, Job: filter.Job}}, nil
}

// write appends an event for each progress reported since the last write
// that passes the filter.
func (f *progressFeed) write(buf *bytes.Buffer) {
	if f == nil {
		return
	}
	reports, next, changed := f.pool.ProgressSince(f.mark)
	f.mark, f.changed = next, changed
	for _, r := range reports {
		if (f.filter.Queue != "" && r.Queue != f.filter.Queue) || (f.filter.Job != "" && r.Job != f.filter.Job) {
			continue
		}
		writeSSE(buf, "", api.EventTypeProgress, api.ProgressEvent{Job: r.Job, Queue: r.Queue, Type: r.Type, Attempt: r.Attempt, Progress: r.Progress})
		f.sent = time.Now()
	}
}

// ready is closed when there may be progress to send: at the next report,
// but no sooner than progressEvery after the last one sent. It is nil, so
// never ready, for a nil feed.
func (f *progressFeed) ready() <-chan struct{} {
	if f == nil {
		return nil
	}
	if wait := progressEvery - time.Since(f.sent); wait > 0 {
		ch := make(chan struct{})
		time.AfterFunc(wait, func() { close(ch) })
		return ch
	}
	return f.changed
}
