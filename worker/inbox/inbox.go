package inbox

import (
	"context"
	"log/slog"
	"time"
)

// Config is one pipeline's inbox.
type Config struct {
	Pipeline string
	Dir      string // absolute
	// Keep moves a picture whose job succeeded into done/; without it the
	// picture is deleted (inbox_keep).
	Keep bool
	// Settle is how long a scan leaves a file alone after its last write
	// (inbox_settle); see the package doc.
	Settle time.Duration
}

// DefaultSettle is inbox_settle when the config says nothing.
const DefaultSettle = 5 * time.Second

const (
	// maxSubmitBatch bounds the jobs of one submit: one commit.
	maxSubmitBatch = 256
	// maxEventsPerPass bounds the watch reads taken before the claimed
	// pictures are submitted, so that a flood of files is queued as it
	// comes rather than after it.
	maxEventsPerPass = 64
	// rescanEvery is how often the inbox is scanned without being told:
	// a file whose event was lost (a watch set up again) is taken then.
	rescanEvery = time.Minute
	// pollEvery is how often the tickets' jobs are looked up when the
	// queue keeps no record of job ends.
	pollEvery = 2 * time.Second
	// retryFirst and retryMax bound the pause after a failed submit,
	// lookup, move or watch.
	retryFirst = 250 * time.Millisecond
	retryMax   = 30 * time.Second
)

// state is where a picture in .processing is on its way.
type state int

const (
	claimed  state = iota // renamed in; the rename is not yet synced
	toSubmit              // its job is to be submitted
	queued                // its job is queued or running
)

type item struct {
	e     entry
	state state
	// lookup says its ticket's job is to be looked up: at start, and on
	// every poll when the queue keeps no record of ends.
	lookup bool
}

// Inbox takes the pictures of one directory and settles them as their
// jobs end. Its methods run on its own goroutine (run).
type Inbox struct {
	cfg  Config
	jobs Jobs
	log  *slog.Logger

	processing, done, failed string

	items map[string]*item // by key: every picture of .processing kiln knows of
	// unsettled are ends whose moves failed, to be tried again.
	unsettled []End
	ends      chan []End

	retry   time.Time // when failed work is tried again
	backoff time.Duration
	scanAt  time.Time // when the inbox is scanned next
	pollAt  time.Time
	// watchLost says the watch ended; it is set up again at watchRetry.
	watchLost    bool
	watchRetry   time.Time
	watchBackoff time.Duration
}

func newInbox(cfg Config, jobs Jobs, log *slog.Logger) *Inbox {
	if cfg.Settle <= 0 {
		cfg.Settle = DefaultSettle
	}
	return &Inbox{
		cfg: cfg, jobs: jobs, log: log.With("pipeline", cfg.Pipeline, "inbox", cfg.Dir),
		processing: ProcessingDir(cfg.Dir), done: DoneDir(cfg.Dir), failed: FailedDir(cfg.Dir),
		items: map[string]*item{},
		ends:  make(chan []End, 16),
	}
}

// run follows the inbox until ctx is done. The watch is set up before
// the scans, so that no file arrives unseen between them.
func (b *Inbox) run(ctx context.Context) {
	w := b.setUp(ctx)
	if w == nil {
		return
	}
	defer func() {
		if w != nil {
			w.Close()
		}
	}()
	if b.jobs.Ends() == nil {
		b.pollAt = time.Now().Add(pollEvery)
	}
	b.scan(time.Now())
	for {
		b.work(ctx)
		var events <-chan watchEvent // none while the watch is lost
		if w != nil {
			events = w.Events()
		}
		wake := time.NewTimer(time.Until(b.nextWake()))
		select {
		case ev := <-events:
			b.watched(ev)
		more:
			for i := 0; i < maxEventsPerPass && !b.watchLost; i++ {
				select {
				case ev := <-events:
					b.watched(ev)
				default:
					break more
				}
			}
		case ends := <-b.ends:
			b.settle(ends)
		case <-wake.C:
			now := time.Now()
			if !b.scanAt.After(now) {
				b.scan(now)
			}
			if !b.pollAt.IsZero() && !b.pollAt.After(now) {
				b.poll(now)
			}
		case <-ctx.Done():
			wake.Stop()
			return
		}
		wake.Stop()
		if b.watchLost && w != nil {
			w.Close()
			w = nil
		}
		if w == nil && !time.Now().Before(b.watchRetry) {
			w = b.rewatch()
		}
	}
}

// setUp creates the inbox's directories, watches it and takes up what a
// previous run left, trying again until it can (a mount that comes late,
// a directory made writable); nil once ctx is done.
func (b *Inbox) setUp(ctx context.Context) *watcher {
	backoff := time.Duration(0)
	for {
		err := MakeDirs(b.cfg.Dir)
		var w *watcher
		if err == nil {
			w, err = watch(b.cfg.Dir)
		}
		if err == nil {
			if err = b.recover(); err == nil {
				return w
			}
			w.Close()
			clear(b.items)
		}
		backoff = min(max(2*backoff, retryFirst), retryMax)
		b.log.Error("inbox: cannot follow the inbox; trying again", "err", err, "in", backoff)
		wait := time.NewTimer(backoff)
	waiting:
		for {
			select {
			case <-wait.C:
				break waiting
			case <-b.ends:
				// Ends that come before the pictures are taken up need
				// no hearing: their jobs ran, so their tickets are there
				// and are looked up once the inbox is set up.
			case <-ctx.Done():
				wait.Stop()
				return nil
			}
		}
	}
}

// watched handles one read of the watch.
func (b *Inbox) watched(ev watchEvent) {
	switch {
	case ev.err != nil:
		b.log.Error("inbox: watch failed; setting it up again", "err", ev.err)
		b.watchLost = true
	case ev.gone:
		b.log.Error("inbox: the directory was removed or moved; creating it again")
		b.watchLost = true
	}
	if ev.overflow {
		b.log.Warn("inbox: the kernel dropped events (inotify queue overflow); scanning the directory")
		b.scanAt = time.Now()
	}
	for _, name := range ev.names {
		b.take(name)
	}
}

// rewatch sets the watch up again after the directory went away, and has
// the inbox scanned: files may have come in meanwhile. A failure is tried
// again later (nil); until then the scans alone find files.
func (b *Inbox) rewatch() *watcher {
	err := MakeDirs(b.cfg.Dir)
	var w *watcher
	if err == nil {
		w, err = watch(b.cfg.Dir)
	}
	if err != nil {
		b.log.Error("inbox: cannot watch the directory; trying again", "err", err)
		b.watchBackoff = min(max(2*b.watchBackoff, retryFirst), retryMax)
		b.watchRetry = time.Now().Add(b.watchBackoff)
		return nil
	}
	b.watchLost, b.watchBackoff, b.watchRetry = false, 0, time.Time{}
	b.scanAt = time.Now()
	return w
}

func (b *Inbox) nextWake() time.Time {
	next := b.scanAt
	for _, t := range []time.Time{b.retry, b.pollAt, b.watchRetry} {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	return next
}

// scan takes the files of the inbox that are old enough, and sets when
// to look again.
func (b *Inbox) scan(now time.Time) {
	b.scanAt = now.Add(rescanEvery)
	s, err := scanInbox(b.cfg.Dir, b.cfg.Settle, now)
	if err != nil {
		b.log.Error("inbox: scan failed", "err", err)
		return
	}
	for _, name := range s.ready {
		b.take(name)
	}
	if !s.recheck.IsZero() && s.recheck.Before(b.scanAt) {
		b.scanAt = s.recheck
	}
	if s.full {
		// The rest once these are on their way; not at once, as the
		// entries looked at may all be ones left alone.
		b.scanAt = now.Add(time.Second)
	}
}

// take claims one file of the inbox.
func (b *Inbox) take(name string) {
	if ignored(name) {
		return
	}
	if why := unusableName(name); why != "" {
		if err := b.refuse(name, "not taken: "+why); err != nil {
			b.log.Error("inbox: cannot move a picture to failed/", "name", name, "err", err)
		} else {
			b.log.Warn("inbox: picture not taken", "name", name, "reason", why)
		}
		return
	}
	e, ok, err := b.claim(name)
	if err != nil {
		b.log.Error("inbox: cannot take a picture", "name", name, "err", err)
		return
	}
	if ok {
		b.items[e.key] = &item{e: e, state: claimed}
	}
}

// work moves every picture on along its way as far as it can go now:
// syncs the claims, submits their jobs, looks up tickets, settles again
// what failed to move. A failure leaves the rest for the retry.
func (b *Inbox) work(ctx context.Context) {
	if !b.retry.IsZero() && time.Now().Before(b.retry) {
		return
	}
	ok := b.syncClaims() && b.submit(ctx) && b.lookups(ctx)
	if ok && len(b.unsettled) > 0 {
		ends := b.unsettled
		b.unsettled = nil
		b.settle(ends)
		ok = len(b.unsettled) == 0
	}
	if ok {
		b.retry, b.backoff = time.Time{}, 0
	}
}

// failedWork pauses the work before it is tried again, longer each time.
func (b *Inbox) failedWork() {
	b.backoff = min(max(2*b.backoff, retryFirst), retryMax)
	b.retry = time.Now().Add(b.backoff)
}
