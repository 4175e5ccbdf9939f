package inbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"kiln/internal/durable"
)

// syncClaims makes the renames of the claimed pictures durable: both
// directories, as the picture left one and entered the other.
func (b *Inbox) syncClaims() bool {
	pending := false
	for _, it := range b.items {
		if it.state == claimed {
			pending = true
			break
		}
	}
	if !pending {
		return true
	}
	if err := firstErr(durable.SyncDir(b.processing), durable.SyncDir(b.cfg.Dir)); err != nil {
		b.log.Error("inbox: cannot sync the taken pictures; trying again", "err", err)
		b.failedWork()
		return false
	}
	for _, it := range b.items {
		if it.state == claimed {
			it.state = toSubmit
		}
	}
	return true
}

// submit queues the jobs of the pictures that need one, in batches. A
// picture whose ticket is there already has a job that ran: it is looked
// up instead (see the package doc and gate).
func (b *Inbox) submit(ctx context.Context) bool {
	var batch []*item
	for _, it := range b.items {
		if it.state != toSubmit {
			continue
		}
		batch = append(batch, it)
		if len(batch) == maxSubmitBatch {
			if !b.submitBatch(ctx, batch) {
				return false
			}
			batch = batch[:0]
		}
	}
	return len(batch) == 0 || b.submitBatch(ctx, batch)
}

func (b *Inbox) submitBatch(ctx context.Context, batch []*item) bool {
	sent, err := b.submitGated(ctx, batch)
	var refused *Refused
	switch {
	case err == nil:
		for _, it := range sent {
			it.state = queued
		}
		if len(sent) > 0 {
			b.log.Debug("inbox: jobs queued", "pictures", len(sent))
		}
		return true
	case errors.As(err, &refused) && len(sent) == 1:
		b.settle([]End{{UniqueKey: UniqueKey(b.cfg.Pipeline, sent[0].e.key), Reason: err.Error()}})
		return true
	case errors.As(err, &refused):
		// All or none: find the pictures at fault one by one.
		for _, it := range sent {
			if !b.submitBatch(ctx, []*item{it}) {
				return false
			}
		}
		return true
	}
	if ctx.Err() == nil {
		b.log.Error("inbox: submitting jobs failed; trying again", "pictures", len(sent), "err", err)
	}
	b.failedWork()
	return false
}

// submitGated submits the jobs of the pictures of batch that have no
// ticket, holding the gate from the look to the answer; sent are those.
func (b *Inbox) submitGated(ctx context.Context, batch []*item) (sent []*item, err error) {
	g := gate(b.processing)
	g.Lock()
	defer g.Unlock()
	pics := make([]Picture, 0, len(batch))
	for _, it := range batch {
		if b.hasTicket(it.e) {
			it.state, it.lookup = queued, true
			continue
		}
		pics = append(pics, Picture{Pipeline: b.cfg.Pipeline, UniqueKey: UniqueKey(b.cfg.Pipeline, it.e.key), Input: filepath.Join(b.processing, it.e.fileName())})
		sent = append(sent, it)
	}
	if len(pics) == 0 {
		return nil, nil
	}
	return sent, b.jobs.Submit(ctx, pics)
}

func (b *Inbox) hasTicket(e entry) bool {
	_, err := os.Lstat(filepath.Join(b.processing, e.ticketName()))
	return err == nil
}
