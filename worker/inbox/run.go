package inbox

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Run follows the inboxes until ctx is done: each on a goroutine of its
// own, and the queue's ends on one more, handed to the inbox whose
// picture's job ended. The place in the record of ends is taken before
// any inbox takes up what a previous run left, so that no end falls
// between the two (see the package doc). An inbox that cannot be set up
// is logged and tried again; the others run meanwhile.
func Run(ctx context.Context, jobs Jobs, inboxes []Config, log *slog.Logger) {
	if len(inboxes) == 0 {
		return
	}
	byPipeline := map[string]*Inbox{}
	for _, cfg := range inboxes {
		byPipeline[cfg.Pipeline] = newInbox(cfg, jobs, log)
	}
	var wg sync.WaitGroup
	if ends := jobs.Ends(); ends != nil {
		head := headOf(ctx, ends, log)
		wg.Add(1)
		go func() {
			defer wg.Done()
			follow(ctx, ends, head, byPipeline, log)
		}()
	}
	for _, b := range byPipeline {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.run(ctx)
		}()
	}
	wg.Wait()
}

// headOf reads where the record of ends is, trying again until it
// answers: the inboxes must not take up their pictures before.
func headOf(ctx context.Context, ends EndLog, log *slog.Logger) uint64 {
	backoff := time.Duration(0)
	for {
		head, err := ends.Head(ctx)
		if err == nil || ctx.Err() != nil {
			return head
		}
		log.Error("inbox: cannot read the event log; trying again", "err", err)
		backoff = min(max(2*backoff, retryFirst), retryMax)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return 0
		}
	}
}

// follow reads the ends after cursor and hands each to its inbox.
func follow(ctx context.Context, ends EndLog, cursor uint64, byPipeline map[string]*Inbox, log *slog.Logger) {
	backoff := time.Duration(0)
	for {
		changed := ends.Changed()
		page, next, more, err := ends.Read(ctx, cursor)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Error("inbox: cannot read the event log; trying again", "after", cursor, "err", err)
			backoff = min(max(2*backoff, retryFirst), retryMax)
			select {
			case <-time.After(backoff):
				continue
			case <-ctx.Done():
				return
			}
		}
		backoff = 0
		cursor = next
		routed := map[*Inbox][]End{}
		for _, e := range page {
			pipeline, _, ok := parseUniqueKey(e.UniqueKey)
			if b := byPipeline[pipeline]; ok && b != nil {
				routed[b] = append(routed[b], e)
			}
		}
		for b, es := range routed {
			select {
			case b.ends <- es:
			case <-ctx.Done():
				return
			}
		}
		if more {
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}
