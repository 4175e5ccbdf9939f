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
// A host that keeps records writes them to its records file with the
// stream offset they reflect, so a restart reads on from there; a new host
// reads the stream from now and its past behind it, asking a host that
// has read the past meanwhile (join.go); a host with keep_records = false
// follows only the control events and asks the others (lighthost.go).
// Unique keys are decided by one admission leader at a time
// (admission.go). Priorities need RabbitMQ 4.0's quorum queue priorities;
// an older broker refuses them with worker.ErrNotSupported. Cancel and
// pause are events on the events exchange that every kilnd applies.
package rabbitmq

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
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
	// Attempts, if set, hears of the attempts of every host, on a host
	// that keeps records (attempts.go), from the first event it reads.
	Attempts worker.AttemptObserver
	// Charts answers a host that keeps no records when it asks for the
	// fleet's charts of a span (FleetCharts); nil: this host has none.
	Charts func(span string) (json.RawMessage, error)

	// holdPast, in tests, keeps a joining host from reading the past
	// until it is closed.
	holdPast <-chan struct{}
}

// Queue is the RabbitMQ backend.
//
// Its state is in the embedded parts, each beside the code it is for, and
// mu guards them all: reading one event changes records, counts, waiting
// indexes and the jobs held or expected at once, and a Lease must never
// see a job in none of those places (consume.go). The connection's
// goroutines and the callers take mu briefly and never across a broker
// round trip.
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

	mu            sync.Mutex
	connState     // the broker connection (conn.go)
	readerState   // where the records reader stands (recordsreader.go)
	joinState     // a joining host's past (join.go)
	recordSet     // the job records and their indexes (records.go)
	recordFile    // the records file (recordcache.go)
	deliveryState // consumed queues and held jobs (consume.go)
	depthCache    // queue depths for the status (depths.go)
	readbackState // own event messages not read back (readback.go)

	admission admission     // the admission lead (admission.go)
	rates     fleetRates    // the buckets of the queues' rates (ratetokens.go)
	shares    runningShares // the hosts sharing max_running (runningshare.go)
	callers   callers       // requests to other kilnd (call.go)
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
		opts:          opts,
		names:         names{prefix: opts.Prefix},
		host:          fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(rnd[:])),
		log:           opts.Log,
		ready:         make(chan struct{}, 1),
		eventsIn:      make(chan eventBatch, 1024),
		closing:       make(chan struct{}),
		loopDone:      make(chan struct{}),
		connState:     newConnState(),
		readerState:   newReaderState(),
		joinState:     joinState{pastDone: closedChan()},
		recordSet:     newRecordSet(),
		recordFile:    newRecordFile(),
		deliveryState: newDeliveryState(),
		readbackState: readbackState{unread: map[string]unreadMsg{}},
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
	q.rates.mu.Lock() // a rate bucket's start after this sees closing
	q.rates.mu.Unlock()
	q.rates.wg.Wait()
	q.shares.mu.Lock() // as does a count of hosts
	q.shares.mu.Unlock()
	q.shares.wg.Wait()
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
