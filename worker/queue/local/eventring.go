package local

import (
	"encoding/binary"
	"sync"

	"go.etcd.io/bbolt"

	"kiln/worker"
)

// eventsInMemory is how many of the newest events the store keeps in
// memory besides the log on disk: a follower that keeps up (an event
// stream, the webhook notifier, an inbox) reads them there, with neither
// a read transaction nor a decode.
const eventsInMemory = 8192

// eventRing holds the newest committed events, IDs last-n+1 to last
// without a hole, and the bounds of the log on disk, all as of the last
// commit. Only the commit goroutine adds to it.
type eventRing struct {
	mu        sync.RWMutex
	events    []worker.Event // circular
	start, n  int            // index of the oldest held; how many are held
	last      uint64         // the newest event written
	firstKept uint64         // the oldest event on disk; last+1 when none is
}

func newEventRing(size int) *eventRing { return &eventRing{events: make([]worker.Event, size)} }

// reset forgets what is held and takes the log's bounds from tx.
func (r *eventRing) reset(tx *bbolt.Tx) {
	last, firstKept := logBounds(tx)
	r.mu.Lock()
	r.start, r.n = 0, 0
	r.last, r.firstKept = last, firstKept
	r.mu.Unlock()
}

// logBounds reads the newest event ID written and the oldest kept.
func logBounds(tx *bbolt.Tx) (last, firstKept uint64) {
	b := tx.Bucket(bucketEvents)
	last = b.Sequence()
	firstKept = last + 1
	if k, _ := b.Cursor().First(); k != nil {
		firstKept = binary.BigEndian.Uint64(k)
	}
	return last, firstKept
}

// addLocked records a commit: its events, oldest first, and the log's
// bounds after it. Events that do not follow on from those held (none
// should) replace them rather than leave a hole. r.mu is held: the commit
// holds it across bbolt's Commit (Store.update).
func (r *eventRing) addLocked(events []worker.Event, last, firstKept uint64) {
	if len(events) > 0 && events[0].ID != r.last+1 {
		r.start, r.n = 0, 0
	}
	for i := range events {
		if r.n < len(r.events) {
			r.events[(r.start+r.n)%len(r.events)] = events[i]
			r.n++
			continue
		}
		r.events[r.start] = events[i]
		r.start = (r.start + 1) % len(r.events)
	}
	r.last, r.firstKept = last, firstKept
}

// read is Store.Events served from memory, when memory holds every kept
// event after after; ok is false when the log on disk must be read.
func (r *eventRing) read(after uint64, f worker.EventFilter, limit int) (page worker.EventPage, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	page = worker.EventPage{Next: after, Last: r.last, FirstKept: r.firstKept}
	from := max(after+1, r.firstKept) // the first event to look at
	oldestHeld := r.last + 1 - uint64(r.n)
	if from <= r.last && from < oldestHeld {
		return worker.EventPage{}, false
	}
	if limit > 0 && from <= r.last {
		page.Events = make([]worker.Event, 0, min(uint64(limit), r.last-from+1, maxEventsScanned))
	}
	scanned := 0
	for id := from; id <= r.last && scanned < maxEventsScanned && len(page.Events) < limit; id++ {
		scanned++
		e := &r.events[(r.start+int(id-oldestHeld))%len(r.events)]
		page.Next = id
		if f.Match(e) {
			page.Events = append(page.Events, *e)
		}
	}
	if len(page.Events) == 0 {
		page.Events = nil // as the log on disk answers
	}
	return page, true
}
