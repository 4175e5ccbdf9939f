package worker

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"kiln/kilntype"
)

// Progress is how far a running job has got.
type Progress = kilntype.Progress

// progressKey carries a running job's progress reporter in its handler's
// context.
type progressKey struct{}

// WithProgress returns a context whose handler's ReportProgress calls go to
// report.
func WithProgress(ctx context.Context, report func(Progress)) context.Context {
	return context.WithValue(ctx, progressKey{}, report)
}

// ReportProgress tells whoever runs the handler how far its job has got.
// Progress lives only while the job runs, in the pool that runs it: it is
// shown, never stored, so a handler may report as often as it likes.
// Without a listener it does nothing.
func ReportProgress(ctx context.Context, p Progress) {
	if report, ok := ctx.Value(progressKey{}).(func(Progress)); ok {
		report(p)
	}
}

// JobProgress is the progress of one running job, with what a reader
// filters it by.
type JobProgress struct {
	Job      string
	Queue    string
	Type     string
	Attempt  int
	Progress Progress
	seq      uint64
}

// progressBoard holds the last progress of each job running in a pool.
type progressBoard struct {
	mu      sync.Mutex
	byJob   map[string]*JobProgress
	seq     uint64
	changed chan struct{}
}

// track returns the context a job's handler runs in, its reports going on
// the board; forget takes the job off when its handler has returned.
func (b *progressBoard) track(ctx context.Context, j *JobRecord) context.Context {
	return WithProgress(ctx, func(p Progress) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.byJob == nil {
			b.byJob = map[string]*JobProgress{}
		}
		b.seq++
		b.byJob[j.ID] = &JobProgress{Job: j.ID, Queue: j.Queue, Type: j.Type, Attempt: j.Attempts, Progress: p, seq: b.seq}
		if b.changed != nil {
			close(b.changed)
			b.changed = nil
		}
	})
}

func (b *progressBoard) forget(id string) {
	b.mu.Lock()
	delete(b.byJob, id)
	b.mu.Unlock()
}

// Progress returns the last progress a job running in this pool reported.
func (p *Pool) Progress(id string) (Progress, bool) {
	b := &p.progress
	b.mu.Lock()
	defer b.mu.Unlock()
	if jp := b.byJob[id]; jp != nil {
		return jp.Progress, true
	}
	return Progress{}, false
}

// ProgressSince returns the progress reported since mark (0: all there
// is), and the mark to ask with next time; changed is closed at the next
// report.
func (p *Pool) ProgressSince(mark uint64) (out []JobProgress, next uint64, changed <-chan struct{}) {
	b := &p.progress
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, jp := range b.byJob {
		if jp.seq > mark {
			out = append(out, *jp)
		}
	}
	slices.SortFunc(out, func(a, b JobProgress) int { return cmp.Compare(a.seq, b.seq) })
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return out, b.seq, b.changed
}
