// Package chartstore keeps what the dashboard's charts show of each queue:
// attempts done and failed, their wait (due → started) and run (started →
// finished) times as histograms, and the depth (queued jobs), in one-minute
// buckets for the last hour and quarter-hour buckets for the last day. Its
// size is fixed by the number of queues, never by the number of jobs, and
// it is saved to one small file in the state directory, so that a restart
// keeps the charts.
package chartstore

import (
	"log/slog"
	"sync"
	"time"

	"kiln/worker"
)

// Span is the time a chart covers.
type Span string

const (
	SpanHour Span = "hour"
	SpanDay  Span = "day"
)

// ParseSpan reads a span's name; "" is the hour.
func ParseSpan(s string) (Span, bool) {
	switch Span(s) {
	case "", SpanHour:
		return SpanHour, true
	case SpanDay:
		return SpanDay, true
	}
	return "", false
}

// The two resolutions: a ring of buckets each, one bucket per step.
const (
	minuteStep    = time.Minute
	minuteBuckets = 60
	quarterStep   = 15 * time.Minute
	quarterBucket = 96
)

// maxQueues bounds the queues kept: names come from the jobs of every
// host of a fleet, and the store must stay small whatever they say.
const maxQueues = 256

// FileName is the store's file in daemon.state_dir.
const FileName = "charts.json"

// bucket is one step of one queue.
type bucket struct {
	start        int64 // unix second the step starts at; 0: empty
	done, failed int64
	wait, run    histogram
	depth        int64 // the most jobs queued seen in the step; -1: none seen
}

func (b *bucket) reset(start int64) {
	*b = bucket{start: start, depth: -1}
}

// ring is one resolution of one queue.
type ring struct {
	step    time.Duration
	buckets []bucket
}

func newRing(step time.Duration, n int) ring {
	return ring{step: step, buckets: make([]bucket, n)}
}

// at is the bucket for time t, emptied if it held an older step; nil if it
// holds a newer one (t is past the ring's reach).
func (r *ring) at(t time.Time) *bucket {
	step := int64(r.step / time.Second)
	start := t.Unix() - t.Unix()%step
	b := &r.buckets[(start/step)%int64(len(r.buckets))]
	switch {
	case b.start == start:
	case b.start < start:
		b.reset(start)
	default:
		return nil
	}
	return b
}

// series is one queue's two rings.
type series struct {
	minutes, quarters ring
}

func newSeries() *series {
	return &series{minutes: newRing(minuteStep, minuteBuckets), quarters: newRing(quarterStep, quarterBucket)}
}

func (s *series) each(t time.Time, f func(*bucket)) {
	for _, r := range []*ring{&s.minutes, &s.quarters} {
		if b := r.at(t); b != nil {
			f(b)
		}
	}
}

// Store is the charts' data. Its methods are safe for concurrent use and
// never block on I/O but Save.
type Store struct {
	path string
	log  *slog.Logger
	now  func() time.Time

	mu     sync.Mutex
	queues map[string]*series
	// newest is the time of the newest attempt taken; resumeAfter is
	// what it was when the file was saved: a backend that reads its
	// history again after a restart tells of attempts the file already
	// counts, and those are not taken twice.
	newest, resumeAfter time.Time
	dirty               bool
	overflowLogged      bool
}

// Open reads the store's file at path, or starts empty without one. A
// file that cannot be read or makes no sense is logged and the store
// starts empty: the charts are worth less than a start.
func Open(path string, log *slog.Logger) *Store {
	s := &Store{path: path, log: log, now: time.Now, queues: map[string]*series{}}
	s.load()
	return s
}

// AttemptBegan takes the start of an attempt at at, due waited before.
func (s *Store) AttemptBegan(queue string, at time.Time, waited time.Duration) {
	s.take(queue, at, func(b *bucket) { b.wait.add(max(waited, 0)) })
}

// AttemptEnded takes the end of an attempt at at, after ran. A
// succeeded attempt is done; one that failed (retrying or dead) is
// failed; a cancelled one counts only its run time.
func (s *Store) AttemptEnded(queue string, at time.Time, outcome worker.Outcome, ran time.Duration) {
	s.take(queue, at, func(b *bucket) {
		switch outcome {
		case worker.OutcomeSucceeded:
			b.done++
		case worker.OutcomeRetrying, worker.OutcomeDead:
			b.failed++
		}
		if ran >= 0 {
			b.run.add(ran)
		}
	})
}

// take applies f to the buckets of at, unless the file counted it
// already. A time ahead of this host's clock (another host's, or a clock
// set back) is taken as now, so that it cannot claim a step of the
// future and push the present out.
func (s *Store) take(queue string, at time.Time, f func(*bucket)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !at.After(s.resumeAfter) {
		return
	}
	at = minTime(at, s.now())
	sr := s.seriesLocked(queue)
	if sr == nil {
		return
	}
	sr.each(at, f)
	if at.After(s.newest) {
		s.newest = at
	}
	s.dirty = true
}

// Depth takes a sample of how many jobs of queue are queued at at; a
// step keeps the most it saw.
func (s *Store) Depth(queue string, at time.Time, queued int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr := s.seriesLocked(queue)
	if sr == nil {
		return
	}
	sr.each(at, func(b *bucket) { b.depth = max(b.depth, int64(queued)) })
	s.dirty = true
}

// seriesLocked is the series of queue, made on first use; nil once
// maxQueues are kept. mu is held.
func (s *Store) seriesLocked(queue string) *series {
	sr := s.queues[queue]
	if sr != nil {
		return sr
	}
	if len(s.queues) >= maxQueues {
		if !s.overflowLogged {
			s.log.Warn("charts: no room for another queue; its charts stay empty", "queue", queue, "max_queues", maxQueues)
			s.overflowLogged = true
		}
		return nil
	}
	sr = newSeries()
	s.queues[queue] = sr
	return sr
}

// forgetStaleLocked drops the queues of which the last day holds
// nothing, so that renamed queues free their room; mu is held.
func (s *Store) forgetStaleLocked(now time.Time) {
	oldest := now.Add(-quarterStep * quarterBucket).Unix()
	for name, sr := range s.queues {
		live := false
		for i := range sr.quarters.buckets {
			if sr.quarters.buckets[i].start > oldest {
				live = true
				break
			}
		}
		if !live {
			delete(s.queues, name)
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
