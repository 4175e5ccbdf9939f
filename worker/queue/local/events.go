package local

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"kiln/worker"
)

// The event log lives in bucket events, written in the transaction of the
// change it tells of. IDs come from the bucket's own sequence. The events
// of one commit are stored as one value (eventgroup.go), keyed by the ID
// of the first (8 bytes, big-endian), so that the log is read back in ID
// order and a commit of many jobs adds one entry to the log's B+tree, not
// three for each job.
var bucketEvents = []byte("events")

// maxEventsScanned bounds the events one read looks at, so a filter that
// matches little does not hold a read transaction over the whole log.
const maxEventsScanned = 10000

// trimPerCommit bounds the events one commit deletes past retention beyond
// those it wrote: the log shrinks back under its bounds over a few commits
// instead of stalling one.
const trimPerCommit = 1024

// defaultEventRetention applies until the daemon says otherwise.
var defaultEventRetention = worker.EventRetention{Keep: 24 * time.Hour, Max: 1_000_000}

var _ worker.EventLog = (*Store)(nil)

// SetEventRetention makes retention the event log's bounds, asked at each
// commit, so that a reloaded config applies at once.
func (s *Store) SetEventRetention(retention func() worker.EventRetention) {
	s.eventRetention.Store(&retention)
}

func (s *Store) retention() worker.EventRetention {
	if r := s.eventRetention.Load(); r != nil {
		return (*r)()
	}
	return defaultEventRetention
}

// OmitEvents stops the store writing events from now on, so that a
// benchmark can set what the event log costs against a store without one.
// Nothing that follows the log (event streams, webhooks, inbox results)
// hears of a change made after it.
func (s *Store) OmitEvents() { s.noEvents.Store(true) }

// EventsChanged implements worker.EventLog.
func (s *Store) EventsChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eventsChanged
}

func (s *Store) signalEvents() {
	s.mu.Lock()
	close(s.eventsChanged)
	s.eventsChanged = make(chan struct{})
	s.mu.Unlock()
}

// appendEvent records j's change of state from from, in t's transaction.
func (t txn) appendEvent(j *worker.JobRecord, from worker.State, now time.Time) error {
	if t.noEvents {
		return nil
	}
	b := t.tx.Bucket(bucketEvents)
	id, err := b.NextSequence()
	if err != nil {
		return err
	}
	e := worker.Event{ID: id, Time: now, Job: j.ID, Queue: j.Queue, Type: j.Type, State: j.State, From: from, Attempt: j.Attempts}
	if j.State == worker.StateRetrying || j.State == worker.StateDead || (j.State == worker.StateCancelled && from == worker.StateRunning) {
		e.Error = j.LastError
	}
	// As the log on disk gives it back: to the nanosecond, no monotonic
	// reading.
	e.Time = time.Unix(0, now.UnixNano())
	if t.written == nil {
		// A change outside the commit loop (the recovery at open) stores
		// its events one by one.
		var g eventGroup
		return g.store(t.tx, []worker.Event{e})
	}
	// The commit stores what it gathered as one group.
	*t.written = append(*t.written, e)
	return nil
}

// trimEvents deletes, oldest first, events past the count cap or the keep
// time, at most limit of them. A group the bounds cut through is stored
// again without its oldest events, so that the log holds no more than the
// bounds say.
func trimEvents(tx *bbolt.Tx, r worker.EventRetention, now time.Time, limit int) error {
	b := tx.Bucket(bucketEvents)
	last := b.Sequence()
	cutoff := now.Add(-r.Keep)
	past := func(id uint64, record []byte) bool {
		overCount := r.Max > 0 && last-id+1 > uint64(r.Max)
		expired := r.Keep > 0 && len(record) >= 8 && eventTime(record).Before(cutoff)
		return overCount || expired
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil && limit > 0; k, v = c.First() {
		first := binary.BigEndian.Uint64(k)
		gone, rest, err := trimGroup(first, v, past, limit)
		if err != nil {
			return fmt.Errorf("events from %d: %w", first, err)
		}
		if gone == 0 {
			return nil
		}
		if err := c.Delete(); err != nil {
			return err
		}
		limit -= gone
		if rest != nil {
			// The cursor is done with: the group's newer events are the
			// oldest kept now.
			return b.Put(binary.BigEndian.AppendUint64(nil, first+uint64(gone)), rest)
		}
	}
	return nil
}

// Events implements worker.EventLog.
func (s *Store) Events(ctx context.Context, after uint64, f worker.EventFilter, limit int) (worker.EventPage, error) {
	if page, ok := s.recent.read(after, f, limit); ok {
		return page, nil
	}
	return s.eventsOnDisk(after, f, limit)
}

// eventsOnDisk is Events read from the log on disk.
func (s *Store) eventsOnDisk(after uint64, f worker.EventFilter, limit int) (worker.EventPage, error) {
	page := worker.EventPage{Next: after}
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		page.Last = b.Sequence()
		c := b.Cursor()
		if k, _ := c.First(); k != nil {
			page.FirstKept = binary.BigEndian.Uint64(k)
		} else {
			page.FirstKept = page.Last + 1
		}
		scanned := 0
		from := after + 1
		// The group that holds from starts at or before it.
		k, v := c.Seek(binary.BigEndian.AppendUint64(nil, from))
		if k == nil || binary.BigEndian.Uint64(k) > from {
			if pk, pv := c.Prev(); pk != nil {
				k, v = pk, pv
			} else {
				k, v = c.First()
			}
		}
		for ; k != nil && scanned < maxEventsScanned && len(page.Events) < limit; k, v = c.Next() {
			err := eachStoredEvent(binary.BigEndian.Uint64(k), v, func(id uint64, rec, _ []byte) (bool, error) {
				if id < from {
					return true, nil
				}
				if scanned >= maxEventsScanned || len(page.Events) >= limit {
					return false, nil
				}
				scanned++
				e, err := decodeEvent(rec)
				if err != nil {
					return false, fmt.Errorf("decode event %d: %w", id, err)
				}
				e.ID = id
				page.Next = id
				if f.Match(e) {
					page.Events = append(page.Events, *e)
				}
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return worker.EventPage{}, fmt.Errorf("read events after %d from %s: %w", after, s.path, err)
	}
	return page, nil
}

// Event records: the time first (8 bytes, Unix nanoseconds, big-endian), so
// that retention reads it without decoding the rest; then the fields as in
// job records. The ID is not in the record: it follows from where the
// record is stored.
func appendEventRecord(b []byte, e *worker.Event) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	b = appendString(b, e.Job)
	b = appendString(b, e.Queue)
	b = appendString(b, e.Type)
	b = append(b, stateCodes[e.State], stateCodes[e.From])
	b = binary.AppendVarint(b, int64(e.Attempt))
	return appendString(b, e.Error)
}

func eventTime(v []byte) time.Time { return time.Unix(0, int64(binary.BigEndian.Uint64(v[:8]))) }

func decodeEvent(v []byte) (*worker.Event, error) {
	if len(v) < 8 {
		return nil, errShortRecord
	}
	d := decoder{b: v[8:]}
	e := &worker.Event{Time: eventTime(v)}
	e.Job = d.string()
	e.Queue = d.string()
	e.Type = d.string()
	e.State = stateByCode[d.byte()]
	e.From = stateByCode[d.byte()]
	e.Attempt = int(d.varint())
	e.Error = d.string()
	if d.err != nil {
		return nil, d.err
	}
	return e, nil
}

// TrimEvents applies the retention now: the log is trimmed as it grows,
// and this covers the quiet times when nothing grows it.
func (s *Store) TrimEvents(ctx context.Context) error {
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		return trimEvents(tx, s.retention(), time.Now(), 4*trimPerCommit)
	})
	if err != nil {
		return fmt.Errorf("trim events of %s: %w", s.path, err)
	}
	return nil
}
