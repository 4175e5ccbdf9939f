// Package rabbitmq is a worker.Queue on RabbitMQ 3.10 or later, so that many
// kilnd hosts share one durable queue and any AMQP client can submit jobs.
//
// What it declares, under a prefix (names.go): a quorum queue per kiln
// queue, with x-delivery-limit from max_attempts, x-max-length from
// max_queued, reject-publish overflow and at-least-once dead-lettering to a
// dead-letter queue per kiln queue; a ladder of wait queues whose TTL
// dead-letters back into the work queues (retries and run_at, no plugin);
// a topic exchange where every job state change is published; and a
// stream bound to it, from which every kilnd builds the job records that
// Get, List and Stats answer from, whichever host ran the job.
//
// Delivery is the broker's: a job is a persistent message, published with
// a publisher confirm before Submit returns, consumed with manual acks and
// a prefetch equal to the queue's concurrency, and acked only after its
// outcome is stored. The attempt count comes from the broker's
// x-delivery-count, so a job that kills its worker every time still ends
// dead.
//
// What AMQP cannot give soundly is refused with worker.ErrNotSupported:
// priorities (3.10 quorum queues have none) and exact unique keys (no
// atomic check-and-publish across hosts). Cancel and pause are events on
// the events exchange that every kilnd applies.
package rabbitmq

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"kiln/worker"
)

// Backend names this backend in the errors of refused features.
const Backend = "rabbitmq"

// Options configure a Queue.
type Options struct {
	// URLs are tried in order at each (re)connect; the vhost is the path.
	URLs []string
	// Password, if set, replaces the password of every URL (read from the
	// password file, never written in the config).
	Password string
	// TLS is used for amqps:// URLs.
	TLS *tls.Config
	// Prefix starts the name of everything declared ("kiln").
	Prefix string
	// Queues returns the current settings of the configured queues: their
	// concurrency is the prefetch, their max_attempts the delivery limit,
	// their max_queued the length limit. A queue not in it gets the
	// defaults. Every configured queue is consumed from the start.
	Queues func() map[string]worker.QueueConfig
	// MaxQueued answers a queue's max_queued at each submit (nil: from
	// Queues).
	MaxQueued worker.MaxQueued
	// Log receives connection changes and what could not be done.
	Log *slog.Logger
	// RecordsSegmentBytes sizes the segments of the records stream when
	// it is first declared (0: 32 MiB).
	RecordsSegmentBytes int
	// RecordsMaxBytes bounds the records stream when it is first declared
	// (0: 2 GiB); its oldest segments go first.
	RecordsMaxBytes int64
	// OnCancel is called with the ID of a job running in this process when
	// a cancel for it arrives from any host.
	OnCancel func(id string)
	// RecordsFile, if set, keeps the job records in that file rather than
	// all in memory, with the stream offset they reflect (recordstore.go):
	// a finished job's record leaves memory soon after its end, and a
	// restart reads the records stream on from where it stopped.
	RecordsFile string
	// NoRecords makes this host keep no job records (lighthost.go): it
	// follows the control stream rather than the records stream, and asks
	// a host that keeps records for lookups. RecordsFile is then unused.
	NoRecords bool

	// holdPast, in tests, keeps a joining host from reading the past
	// until it is closed.
	holdPast <-chan struct{}
}

// Queue is the RabbitMQ backend. Its state is guarded by mu; the
// connection's goroutines and the callers' take it briefly and never
// across a broker round trip.
type Queue struct {
	opts  Options
	names names
	host  string // this process, in the events it publishes
	log   *slog.Logger

	ready chan struct{}

	// eventsIn takes events to the event writers (eventwriter.go).
	eventsIn chan eventBatch
	// feed serves the event log to followers (eventfeed.go).
	feed *eventFeed

	closing   chan struct{}
	closeOnce sync.Once
	loopDone  chan struct{}
	flushDone chan struct{}
	storeOnce sync.Once

	mu      sync.Mutex
	link    *link // nil while disconnected
	health  error // why the broker cannot be used now; nil when it can
	blocked string
	synced  bool // the records have been read up to the first connection
	syncing bool // a connection is reading the records up to its start
	syncCh  chan struct{}
	// markers counts the sync markers published; markerSeen holds the
	// channel closed when the records reader reads one back.
	markers    int
	markerSeen map[string]chan struct{}
	changed    chan struct{}
	// wake is closed and replaced whenever a delivery arrives or a record
	// changes, for a Lease waiting for a job it knows is coming.
	wake chan struct{}

	records map[string]*record // those in memory; see store
	// store keeps the records that left memory (nil: all stay in memory);
	// dirty names the records changed since its last write.
	store *recordStore
	dirty map[string]struct{}
	// flushed is closed and replaced at every write of the file;
	// flushSoon asks for a write before the next tick (recordcache.go).
	flushed   chan struct{}
	flushSoon chan struct{}
	// resident is how long a finished record stays in memory (residentFor;
	// less in tests).
	resident time.Duration
	counts   map[string]map[worker.State]int // per queue, by state
	// waiting indexes the records of the jobs that wait to run (queued,
	// scheduled, retrying) by queue and state, so that Stats and Lease
	// need not look at every record.
	waiting   map[waitKey]map[string]*record
	unique    map[uniqueRef]string // unique key → the unfinished job holding it (uniquekeys.go)
	paused    map[string]bool
	cancelled map[string]int // job ID → generation cancelled
	purged    map[string]int // job ID → generation whose record was purged (not yet written to store)
	notJobs   map[string]int // per queue, the dead letters that are not jobs
	queues    map[string]*queueState
	leased    map[string]*lease
	offset    int64 // next records stream offset to read
	// past is the reading of the stream's past by a host that joined the
	// fleet (join.go), nil when there is none; pastDone is closed when
	// none is left.
	past     *pastRead
	pastDone chan struct{}
	// askedStats are the counts of a host that keeps records, as of
	// askedStatsAt, for max_queued on a host that asks others.
	askedStats   map[string]*worker.QueueStats
	askedStatsAt time.Time
	gap          [2]int64 // the last jump of the records reader's offsets
	gapCount     int      // how many times it was seen
	declared     map[string]bool
	depths       map[string]int       // the last answer of Depths
	oldest       map[string]time.Time // per queue, the oldest queued job's creation, as of oldestAt
	oldestAt     time.Time
	depthsAt     time.Time
	// unread holds this process's confirmed event messages not read back
	// from the records yet (readback.go); msgSeq numbers them.
	unread  map[string]unreadMsg
	msgSeq  atomic.Uint64
	stepsOn map[string]*link // wait queue → the link it was declared on

	admission admission // the admission lead (admission.go)
	callers   callers   // requests to other kilnd (call.go)
}

// Open starts a Queue. It returns at once, also when no broker is
// reachable: the connection is made, and remade after any loss, in the
// background with backoff and jitter, and Health says why the broker
// cannot be used meanwhile. WaitReady waits for the first connection.
func Open(opts Options) (*Queue, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("rabbitmq backend: no broker URL")
	}
	if opts.Prefix == "" {
		opts.Prefix = "kiln"
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Queues == nil {
		opts.Queues = func() map[string]worker.QueueConfig { return nil }
	}
	host, _ := os.Hostname()
	var rnd [4]byte
	rand.Read(rnd[:])
	q := &Queue{
		opts:       opts,
		names:      names{prefix: opts.Prefix},
		host:       fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(rnd[:])),
		log:        opts.Log,
		ready:      make(chan struct{}, 1),
		eventsIn:   make(chan eventBatch, 1024),
		closing:    make(chan struct{}),
		loopDone:   make(chan struct{}),
		health:     errors.New("broker not connected yet"),
		syncCh:     make(chan struct{}),
		pastDone:   closedChan(),
		markerSeen: map[string]chan struct{}{},
		changed:    make(chan struct{}),
		wake:       make(chan struct{}),
		records:    map[string]*record{},
		dirty:      map[string]struct{}{},
		flushed:    make(chan struct{}),
		flushSoon:  make(chan struct{}, 1),
		resident:   residentFor,
		counts:     map[string]map[worker.State]int{},
		waiting:    map[waitKey]map[string]*record{},
		unique:     map[uniqueRef]string{},
		paused:     map[string]bool{},
		cancelled:  map[string]int{},
		purged:     map[string]int{},
		notJobs:    map[string]int{},
		unread:     map[string]unreadMsg{},
		queues:     map[string]*queueState{},
		leased:     map[string]*lease{},
		declared:   map[string]bool{},
		stepsOn:    map[string]*link{},
	}
	q.feed = newEventFeed(q)
	if opts.RecordsFile != "" && !opts.NoRecords {
		if err := q.openStore(); err != nil {
			return nil, err
		}
	}
	for name := range opts.Queues() {
		q.queueState(name).attach = true
	}
	q.admission.done = make(chan struct{})
	q.startEventWriters()
	go q.sweepLoop()
	go q.connectLoop()
	go q.runAdmission()
	return q, nil
}

// WaitReady returns once the broker is connected and the job records have
// been read up to the moment of connecting, or with ctx's error.
func (q *Queue) WaitReady(ctx context.Context) error {
	q.mu.Lock()
	ch := q.syncCh
	q.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for broker: %w (last problem: %v)", ctx.Err(), q.Health())
	}
}

// Syncing reports whether the records are being read up to the first
// connection's start (the broker is reachable, and answers from the
// records would not be right yet), and the stream offset read so far.
func (q *Queue) Syncing() (bool, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.syncing && !q.synced, q.offset
}

// Health is nil while the broker can take jobs, or says why it cannot:
// unreachable, refusing the credentials, or blocked by a resource alarm.
func (q *Queue) Health() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.health != nil {
		return q.health
	}
	if q.blocked != "" {
		return fmt.Errorf("broker blocked publishing: %s", q.blocked)
	}
	return nil
}

// Host is this process's name in the events it publishes.
func (q *Queue) Host() string { return q.host }

// Ready implements worker.Queue.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

func closedChan() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

func (q *Queue) signalReady() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Changed implements worker.Queue.
func (q *Queue) Changed() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.changed
}

// changedLocked wakes whoever waits for a change of a job; mu is held.
func (q *Queue) changedLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
	q.wakeLocked()
}

func (q *Queue) wakeLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// Close implements worker.Queue: it closes the connection; jobs leased and
// not answered go back to their queue by the broker's doing.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() { close(q.closing) })
	<-q.admission.done
	<-q.loopDone
	var err error
	q.storeOnce.Do(func() {
		if q.store != nil {
			<-q.flushDone
			q.flush()
			err = q.store.close()
		}
	})
	return err
}

// unavailable is the error of an operation tried while the broker cannot
// be used.
func (q *Queue) unavailable(op string) error {
	return fmt.Errorf("%s: %w: %v", op, worker.ErrUnavailable, q.Health())
}

// notSupported is the error of a feature this backend refuses.
func notSupported(feature, reason string) error {
	return fmt.Errorf("%s: %w (%s backend: %s)", feature, worker.ErrNotSupported, Backend, reason)
}

// now is the time in records, in UTC like the local store's.
func now() time.Time { return time.Now().UTC() }
