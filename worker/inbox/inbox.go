package inbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"kiln/internal/durable"
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

// dirMode lets the kiln group drop pictures and take them back; setgid
// keeps what is dropped in that group, readable by kilnd whatever the
// writer's umask.
const dirMode = fs.ModeSetgid | 0o770

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

// MakeDirs creates an inbox and the directories it uses where they are
// missing, with the modes the packages give them; those that exist keep
// theirs.
func MakeDirs(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create inbox directory %s: %w", dir, err)
	}
	for _, d := range []struct {
		path string
		mode fs.FileMode
	}{{dir, dirMode}, {ProcessingDir(dir), 0o700}, {DoneDir(dir), dirMode}, {FailedDir(dir), dirMode}} {
		err := os.Mkdir(d.path, 0o700)
		if errors.Is(err, fs.ErrExist) {
			if st, serr := os.Stat(d.path); serr == nil && !st.IsDir() {
				return fmt.Errorf("create inbox directory %s: a file is in the way", d.path)
			}
			continue
		}
		if err == nil {
			// Mkdir's mode passes through the umask (kiln.service has
			// 0027); the group must be able to write.
			err = os.Chmod(d.path, d.mode)
		}
		if err != nil {
			return fmt.Errorf("create inbox directory %s: %w", d.path, err)
		}
	}
	return nil
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
		b.scanAt = now // the rest once these are on their way
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

// syncClaims makes the renames of the claimed pictures durable: both
// directories, as the picture left one and entered the other.
func (b *Inbox) syncClaims() bool {
	var any bool
	for _, it := range b.items {
		if it.state == claimed {
			any = true
			break
		}
	}
	if !any {
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

// settle moves the pictures of ended jobs where they belong, syncs the
// directories they went to, and only then removes their tickets.
func (b *Inbox) settle(ends []End) {
	if len(ends) == 0 {
		return
	}
	synced := map[string]bool{}
	var tickets []string
	for _, end := range ends {
		_, key, ok := parseUniqueKey(end.UniqueKey)
		it := b.items[key]
		if !ok || it == nil {
			continue // settled already, or not this inbox's
		}
		dir, final, err := b.settleOne(it.e, end)
		if err != nil {
			b.log.Error("inbox: cannot move a picture whose job ended; trying again", "name", it.e.name, "err", err)
			if errors.Is(err, fs.ErrNotExist) {
				if err := MakeDirs(b.cfg.Dir); err != nil {
					b.log.Error("inbox: cannot create its directories", "err", err)
				}
			}
			b.unsettled = append(b.unsettled, end)
			b.failedWork()
			continue
		}
		if dir != "" {
			synced[dir] = true
		}
		b.logEnd(it.e, end, dir, final)
		tickets = append(tickets, it.e.ticketName())
		delete(b.items, key)
	}
	for dir := range synced {
		if err := durable.SyncDir(dir); err != nil {
			// The tickets stay: a restart finds them and settles again, or
			// removes them once their pictures are gone.
			b.log.Error("inbox: cannot sync the settled pictures", "err", err)
			return
		}
	}
	for _, t := range tickets {
		if err := os.Remove(filepath.Join(b.processing, t)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			b.log.Warn("inbox: cannot remove a ticket; the next start does", "err", err)
		}
	}
}

func (b *Inbox) logEnd(e entry, end End, dir, final string) {
	switch {
	case end.Succeeded && final == "":
		b.log.Info("inbox: picture done, deleted", "name", e.name, "job", end.Job)
	case end.Succeeded:
		b.log.Info("inbox: picture done", "name", e.name, "job", end.Job, "moved_to", filepath.Join(dir, final))
	default:
		b.log.Warn("inbox: picture failed", "name", e.name, "job", end.Job, "moved_to", filepath.Join(dir, final), "reason", end.Reason)
	}
}
