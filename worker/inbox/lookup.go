package inbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// lookups asks the queue how the jobs of the tickets to look up ended.
func (b *Inbox) lookups(ctx context.Context) bool {
	var ends []End
	defer func() { b.settle(ends) }()
	for _, it := range b.items {
		if !it.lookup {
			continue
		}
		id, err := readTicket(b.processing, it.e.key)
		if errors.Is(err, fs.ErrNotExist) {
			it.lookup = false // its job has not run: it ends as it runs
			continue
		}
		if err != nil {
			b.log.Error("inbox: unreadable ticket; its picture waits", "name", it.e.name, "err", err)
			it.lookup = false
			continue
		}
		end, ended, err := b.jobs.Job(ctx, id)
		switch {
		case errors.Is(err, ErrGone):
			ends = append(ends, End{Job: id, UniqueKey: UniqueKey(b.cfg.Pipeline, it.e.key),
				Reason: fmt.Sprintf("its job %s is no longer in the queue (purged), so how it ended is unknown: move the picture back into the inbox to make it again", id)})
		case err != nil:
			if ctx.Err() == nil {
				b.log.Error("inbox: looking a job up failed; trying again", "job", id, "err", err)
			}
			b.failedWork()
			return false
		case ended:
			end.UniqueKey = UniqueKey(b.cfg.Pipeline, it.e.key)
			ends = append(ends, end)
		}
		it.lookup = false
	}
	return true
}

// poll has every ticket looked up, when the queue keeps no record of
// ends.
func (b *Inbox) poll(now time.Time) {
	b.pollAt = now.Add(pollEvery)
	for _, it := range b.items {
		if it.state == queued {
			it.lookup = true
		}
	}
}
