package local

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// maxWritesPerCommit bounds how many changes share one commit, so one commit's latency
// stays bounded under a flood.
const maxWritesPerCommit = 512

// writeRequest is one change waiting for a commit. fn must leave the
// transaction untouched when it returns an error: the batch is then rolled
// back and run again without it.
type writeRequest struct {
	fn func(tx *bbolt.Tx) error
	// done receives the outcome of a lone change; a change made as part of
	// a group (many jobs, each its own change) sets err and leaves group
	// instead, so that a thousand changes need no thousand channels.
	done  chan error
	group *sync.WaitGroup
	err   error
}

// finish tells the change's caller how its commit went.
func (r *writeRequest) finish(err error) {
	if r.group != nil {
		r.err = err
		r.group.Done()
		return
	}
	r.done <- err
}

var errBatchMemberFailed = errors.New("batch member failed")

// write runs fn in a write transaction shared with whatever other changes are
// waiting, and returns once that transaction is durable. Nothing waits for a
// batch to fill: while one commit syncs, the next batch gathers.
func (s *Store) write(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	req := &writeRequest{fn: fn, done: make(chan error, 1)}
	s.admitting.RLock()
	if s.closed {
		s.admitting.RUnlock()
		return ErrClosed
	}
	select {
	case s.writes <- req:
	case <-ctx.Done():
		s.admitting.RUnlock()
		return ctx.Err()
	}
	s.admitting.RUnlock()
	// Once queued, the change may commit; the caller must learn whether it
	// did, so this wait ignores ctx.
	return <-req.done
}

func (s *Store) commitLoop() {
	defer s.wg.Done()
	batch := make([]*writeRequest, 0, maxWritesPerCommit)
	var gathering commitGathering
	company := time.NewTimer(time.Hour)
	company.Stop()
	for {
		select {
		case req := <-s.writes:
			batch = append(batch[:0], req)
		case <-s.quit:
			s.drainWrites()
			return
		}
	fill:
		for len(batch) < maxWritesPerCommit {
			select {
			case req := <-s.writes:
				batch = append(batch, req)
			default:
				break fill
			}
		}
		if want, wait := gathering.target(len(batch)); wait > 0 {
			company.Reset(wait)
		gather:
			for len(batch) < want {
				select {
				case req := <-s.writes:
					batch = append(batch, req)
				case <-company.C:
					break gather
				case <-s.quit:
					break gather
				}
			}
			company.Stop()
		}
		gathering.committed(len(batch), s.commit(batch))
	}
}

// drainWrites refuses what is still queued at close.
func (s *Store) drainWrites() {
	for {
		select {
		case req := <-s.writes:
			req.finish(ErrClosed)
		default:
			return
		}
	}
}

// commit makes batch durable in one transaction, or as many as it takes
// when members fail, and says how long the transaction took.
func (s *Store) commit(batch []*writeRequest) time.Duration {
	start := time.Now()
	for len(batch) > 0 {
		failed := -1
		var failErr error
		s.announce.ready, s.announce.changed = false, false
		clear(s.deltas)
		s.written = s.written[:0]
		var last, firstKept uint64
		err := s.update(func(tx *bbolt.Tx) error {
			for i, req := range batch {
				if err := req.fn(tx); err != nil {
					failed, failErr = i, err
					return errBatchMemberFailed
				}
			}
			if err := s.events.store(tx, s.written); err != nil {
				return err
			}
			// The log is trimmed in the transaction that grows it, so it
			// never outgrows its bounds by more than one commit's events.
			if len(s.written) > 0 {
				if err := trimEvents(tx, s.retention(), start, len(s.written)+trimPerCommit); err != nil {
					return err
				}
			}
			last, firstKept = logBounds(tx)
			return s.txn(tx).flushCounts()
		}, func() { s.recent.addLocked(s.written, last, firstKept) })
		if failed >= 0 {
			batch[failed].finish(failErr)
			batch = append(batch[:failed], batch[failed+1:]...)
			continue
		}
		if err == nil {
			s.commits.Add(1)
			if s.announce.ready {
				s.signalReady()
			}
			if s.announce.changed {
				s.signalChanged()
			}
			if len(s.written) > 0 {
				s.signalEvents()
			}
		}
		took := time.Since(start)
		if err == nil {
			if o := s.commitObserver.Load(); o != nil {
				(*o)(took, len(batch))
			}
		}
		for _, req := range batch {
			req.finish(err)
		}
		return took
	}
	return time.Since(start)
}

// update runs fn in a write transaction and commits it holding the events
// in memory locked, and runs committed before it lets go of them: the
// commit's changes are visible to readers from the moment bbolt writes
// its meta page, inside Commit, and a reader that has seen them (a job
// done, say) and then asks for the events must find this commit's events
// in memory too, not the ones before it.
func (s *Store) update(fn func(tx *bbolt.Tx) error, committed func()) error {
	tx, err := s.db.Begin(true)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	s.recent.mu.Lock()
	defer s.recent.mu.Unlock()
	if err := tx.Commit(); err != nil {
		return err
	}
	committed()
	return nil
}

// writeEach queues each fn as a change of its own, so that one's failure
// leaves the others alone, while they share commits with each other and
// with everything else waiting. It returns once every queued change is
// durable or has failed; errs[i] is fns[i]'s outcome.
func (s *Store) writeEach(ctx context.Context, fns []func(tx *bbolt.Tx) error) []error {
	var group sync.WaitGroup
	reqs := make([]writeRequest, len(fns))
	errs := make([]error, len(fns))
	queued := 0
	s.admitting.RLock()
	for i, fn := range fns {
		reqs[i] = writeRequest{fn: fn, group: &group}
		group.Add(1)
		if s.closed {
			errs[i] = ErrClosed
		} else {
			select {
			case s.writes <- &reqs[i]:
				queued++
				continue
			case <-ctx.Done():
				errs[i] = ctx.Err()
			}
		}
		group.Done()
		// What was not queued fails the same way.
		for j := i + 1; j < len(fns); j++ {
			errs[j] = errs[i]
		}
		break
	}
	s.admitting.RUnlock()
	// Once queued, a change may commit; the caller must learn whether it
	// did, so this wait ignores ctx.
	group.Wait()
	for i := 0; i < queued; i++ {
		errs[i] = reqs[i].err
	}
	return errs
}
