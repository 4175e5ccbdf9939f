package rabbitmq

import (
	"context"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/worker"
)

// The event log of this backend is the records stream itself: every job
// state change is in it once it is confirmed, in one order that every host
// reads alike, so an event ID taken from one host resumes on any other.
// An event's ID is its message's stream offset times eventIDSpan plus its
// place in the message (a message carries up to maxEventsPerMessage
// events): IDs increase along the stream but are not dense, which is why a
// page's FirstKept says "nothing missed" (after+1) unless the stream no
// longer holds the offset after the reader's.
//
// A host reads the stream for followers only while it has them: a tail
// reader starts at the first Events call and stops once no one has asked
// for feedIdle, so a host nobody follows does no work per event. The tail
// keeps the last feedRingMessages messages decoded; a reader further behind
// is served by a reader of its own from its offset (a backfill).

// eventIDSpan separates the IDs of two stream offsets.
const eventIDSpan = 1024

// eventID is the ID of the i-th event of the message at offset off. IDs
// start at eventIDSpan, so that every ID of the log, and FirstKept-1, is
// above 0, which means "from the start".
func eventID(off int64, i int) uint64 { return uint64(off+1)*eventIDSpan + uint64(i) }

// endID is the ID that stands for "every event of the message at offset
// off looked at": no event has it.
func endID(off int64) uint64 { return eventID(off, eventIDSpan-1) }

// offsetAfter is the first offset that may hold events after ID after.
func offsetAfter(after uint64) int64 {
	if after < eventIDSpan {
		return 0
	}
	off := int64(after/eventIDSpan) - 1
	if after%eventIDSpan == eventIDSpan-1 {
		off++
	}
	return off
}

// feedRingMessages bounds the messages the tail keeps; feedIdle is how long
// it reads on after the last Events call.
// feedRingEvents bounds them by their events too: under load a message
// carries up to maxEventsPerMessage events, each with its job.
const (
	feedRingEvents   = 16384
	feedRingMessages = 4096
	feedIdle         = 2 * time.Minute
	feedDedupKeys    = 100_000
)

// feedSyncWithin bounds the wait for the tail's first marker.
const feedSyncWithin = 30 * time.Second

// feedMessage is one message of the stream, decoded for followers.
type feedMessage struct {
	offset int64
	events []worker.Event
}

// eventFeed serves Events from the records stream.
type eventFeed struct {
	q       *Queue
	ringMax int // feedRingMessages, or fewer in tests

	mu   sync.Mutex
	ring []feedMessage // contiguous reading of the stream, oldest first
	// ringEvents counts the events of the ring.
	ringEvents int
	tail       *link // the link the tail reads on; nil: not reading
	tailCh     *amqp.Channel
	next       int64 // the offset the tail reads next (0: none read yet)
	// start is the first offset from which the ring holds every message
	// with events (-1 until the tail has read one message).
	start    int64
	synced   bool // the tail has read back its start marker
	syncCh   chan struct{}
	marker   string
	lastUsed time.Time
	changed  chan struct{}
	// seen holds the identity of the job events read lately: a message the
	// publisher sent again (its confirm was lost, or the stream lost it in a
	// failover) repeats events that followers have had.
	seen      map[eventKey]struct{}
	seenOrder []eventKey
}

// eventKey is the identity of one job event: its job, generation and
// sequence number, and the state it tells of.
type eventKey struct {
	job   string
	gen   int
	seq   uint64
	state worker.State
}

func newEventFeed(q *Queue) *eventFeed {
	return &eventFeed{q: q, ringMax: feedRingMessages, start: -1, changed: make(chan struct{}), seen: map[eventKey]struct{}{}}
}

// EventsChanged implements worker.EventLog.
func (q *Queue) EventsChanged() <-chan struct{} {
	f := q.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// Events implements worker.EventLog on the records stream.
func (q *Queue) Events(ctx context.Context, after uint64, filter worker.EventFilter, limit int) (worker.EventPage, error) {
	f := q.feed
	if limit <= 0 && !q.opts.NoRecords {
		// The head alone: this host's records reader knows where the
		// stream ends, and no tail needs to read and decode every event
		// (webhooks without a notify_url ask this, on the leader).
		q.mu.Lock()
		next, synced := q.offset, q.synced
		q.mu.Unlock()
		if synced && next > 0 {
			first, err := q.firstOffset(ctx)
			if err != nil {
				return worker.EventPage{}, err
			}
			last := endID(next - 1)
			return worker.EventPage{Next: after, Last: last, FirstKept: eventID(first, 0)}, nil
		}
	}
	if err := f.ensureTail(ctx); err != nil {
		return worker.EventPage{}, err
	}
	f.mu.Lock()
	last := f.lastIDLocked()
	start := f.start
	f.mu.Unlock()

	page := worker.EventPage{Next: after, Last: last, FirstKept: after + 1}
	if after == 0 || limit <= 0 {
		// The head: where the log starts and ends.
		first, err := q.firstOffset(ctx)
		if err != nil {
			return worker.EventPage{}, err
		}
		page.FirstKept = eventID(first, 0)
		if limit <= 0 {
			return page, nil
		}
	}
	from := offsetAfter(after)
	if start >= 0 && from >= start {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.pageLocked(after, from, filter, limit, page), nil
	}
	return q.backfill(ctx, after, from, start, filter, limit, page)
}

// lastIDLocked is the ID of the newest event read; f.mu is held.
func (f *eventFeed) lastIDLocked() uint64 {
	if f.next == 0 {
		return 0
	}
	return endID(f.next - 1)
}

// pageLocked answers from the ring; f.mu is held.
func (f *eventFeed) pageLocked(after uint64, from int64, filter worker.EventFilter, limit int, page worker.EventPage) worker.EventPage {
	i := 0
	for i < len(f.ring) && f.ring[i].offset < from {
		i++
	}
	page.Next = max(after, page.Next)
	for ; i < len(f.ring); i++ {
		m := f.ring[i]
		for j := range m.events {
			e := &m.events[j]
			if e.ID <= after {
				continue
			}
			if filter.Match(e) {
				page.Events = append(page.Events, *e)
			}
			page.Next = e.ID
			if len(page.Events) == limit {
				return page
			}
		}
		page.Next = max(page.Next, endID(m.offset))
	}
	page.Next = max(page.Next, f.lastIDLocked())
	return page
}

// ensureTail starts the tail reader on the current link if it is not
// reading, and waits until it has read up to the moment it started.
func (f *eventFeed) ensureTail(ctx context.Context) error {
	q := f.q
	q.mu.Lock()
	l := q.link
	q.mu.Unlock()
	f.mu.Lock()
	f.lastUsed = time.Now()
	if l == nil {
		f.mu.Unlock()
		return q.unavailable("read events")
	}
	if f.tail != l {
		if err := f.startTailLocked(l); err != nil {
			f.mu.Unlock()
			return err
		}
	}
	sync := f.syncCh
	f.mu.Unlock()
	select {
	case <-sync:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(feedSyncWithin):
		return fmt.Errorf("read events from stream %s: the stream did not deliver its marker within %s", q.names.records(), feedSyncWithin)
	}
}

// startTailLocked opens the tail's consumer on l, from where it stopped
// or, the first time, from the stream's end (marked by a marker it
// publishes and waits to read back); f.mu is held.
func (f *eventFeed) startTailLocked(l *link) error {
	q := f.q
	ch, err := l.conn.Channel()
	if err != nil {
		return fmt.Errorf("open event feed channel on %s: %w", l.url, err)
	}
	if err := ch.Qos(1000, 0, false); err != nil {
		ch.Close()
		return fmt.Errorf("set event feed prefetch on %s: %w", l.url, err)
	}
	var offset any = "next"
	if f.next > 0 {
		offset = f.next
	}
	deliveries, err := ch.Consume(q.names.records(), "", false, false, false, false, amqp.Table{"x-stream-offset": offset})
	if err != nil {
		ch.Close()
		return fmt.Errorf("read stream %s for events on %s: %w", q.names.records(), l.url, err)
	}
	if f.tailCh != nil {
		go f.tailCh.Close()
	}
	f.tail, f.tailCh = l, ch
	if f.syncCh == nil || f.next == 0 {
		f.synced = false
		f.syncCh = make(chan struct{})
		q.mu.Lock()
		q.markers++
		f.marker = fmt.Sprintf("%s#feed%d", q.host, q.markers)
		q.mu.Unlock()
		marker := f.marker
		go func() {
			if err := q.sendEvents(l, &event{Kind: evSync, Host: q.host, Marker: marker}); err != nil {
				q.log.Warn("event feed: marker not published", "err", err)
			}
		}()
	}
	go f.read(ch, deliveries)
	return nil
}

// read appends what the tail delivers to the ring until the channel ends
// or nobody has asked for events for feedIdle.
func (f *eventFeed) read(ch *amqp.Channel, deliveries <-chan amqp.Delivery) {
	idle := time.NewTicker(feedIdle / 4)
	defer idle.Stop()
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				f.stopTail(ch, false)
				return
			}
			f.take(d)
		case <-idle.C:
			f.mu.Lock()
			quiet := time.Since(f.lastUsed) > feedIdle
			f.mu.Unlock()
			if quiet {
				f.stopTail(ch, true)
				ch.Close()
				return
			}
		case <-f.q.closing:
			return
		}
	}
}

// stopTail forgets the tail if ch is still its channel. An idle tail
// drops the ring: a later one starts at the stream's end, and readers
// behind it backfill. A tail whose connection ended keeps it and reads on
// from where it stopped on the next connection.
func (f *eventFeed) stopTail(ch *amqp.Channel, idle bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tailCh != ch {
		return
	}
	f.tail, f.tailCh = nil, nil
	if idle {
		f.ring, f.next, f.start, f.syncCh = nil, 0, -1, nil
		clear(f.seen)
		f.seenOrder = nil
	}
}

// take adds one delivery of the tail to the ring.
func (f *eventFeed) take(d amqp.Delivery) {
	off := headerInt(d.Headers, "x-stream-offset")
	d.Ack(false)
	evs, _ := decodeEvents(d.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if off < f.next {
		return // a chunk is delivered from its start
	}
	f.next = off + 1
	if f.start < 0 {
		f.start = off
	}
	for _, e := range evs {
		if e != nil && e.Kind == evSync && e.Marker == f.marker && !f.synced {
			f.synced = true
			close(f.syncCh)
		}
	}
	m := feedMessage{offset: off, events: f.jobEventsLocked(off, evs)}
	if len(m.events) > 0 {
		f.ring = append(f.ring, m)
		f.ringEvents += len(m.events)
		drop := 0
		for len(f.ring)-drop > f.ringMax || (f.ringEvents > feedRingEvents && len(f.ring)-drop > 1) {
			f.ringEvents -= len(f.ring[drop].events)
			drop++
		}
		if drop > 0 {
			f.ring = append(f.ring[:0:0], f.ring[drop:]...)
			f.start = f.ring[0].offset
		}
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// jobEventsLocked turns the events of the message at offset off into the
// log's events, dropping those read before; f.mu is held.
func (f *eventFeed) jobEventsLocked(off int64, evs []*event) []worker.Event {
	var out []worker.Event
	for i, e := range evs {
		we, ok := logEvent(e, eventID(off, i))
		if !ok {
			continue
		}
		k := eventKey{we.Job, e.Gen, e.Seq, we.State}
		if _, dup := f.seen[k]; dup {
			continue
		}
		f.seen[k] = struct{}{}
		f.seenOrder = append(f.seenOrder, k)
		if len(f.seenOrder) > feedDedupKeys {
			delete(f.seen, f.seenOrder[0])
			f.seenOrder = f.seenOrder[1:]
		}
		out = append(out, we)
	}
	return out
}

// logEvent is the log's view of one event of the stream: job state changes
// and cancels are events, control and sync messages are not.
func logEvent(e *event, id uint64) (worker.Event, bool) {
	if e == nil || e.Job == nil || (e.Kind != evJob && e.Kind != evCancel) {
		return worker.Event{}, false
	}
	j := e.Job
	we := worker.Event{ID: id, Time: j.UpdatedAt, Job: j.ID, Queue: j.Queue, Type: j.Type, State: j.State, From: e.From, Attempt: j.Attempts}
	if j.State == worker.StateRetrying || j.State == worker.StateDead || (j.State == worker.StateCancelled && e.From == worker.StateRunning) {
		we.Error = j.LastError
	}
	return we, true
}

// backfill serves a reader behind the ring with a stream reader of its
// own, from offset from up to the ring's start (stop; -1 while the tail
// has read nothing, when there is nothing behind it to read).
func (q *Queue) backfill(ctx context.Context, after uint64, from, stop int64, filter worker.EventFilter, limit int, page worker.EventPage) (worker.EventPage, error) {
	q.mu.Lock()
	l := q.link
	q.mu.Unlock()
	if l == nil {
		return page, q.unavailable("read events")
	}
	first, err := q.firstOffset(ctx)
	if err != nil {
		return page, err
	}
	if from < first {
		// Retention removed what the reader has not seen.
		page.FirstKept = eventID(first, 0)
		return page, nil
	}
	if stop < 0 {
		return page, nil // the tail has read nothing yet: nothing to backfill
	}
	ch, err := l.conn.Channel()
	if err != nil {
		return page, fmt.Errorf("open event backfill channel on %s: %w", l.url, err)
	}
	defer ch.Close()
	if err := ch.Qos(1000, 0, false); err != nil {
		return page, fmt.Errorf("set event backfill prefetch on %s: %w", l.url, err)
	}
	deliveries, err := ch.Consume(q.names.records(), "", false, false, false, false, amqp.Table{"x-stream-offset": from})
	if err != nil {
		return page, fmt.Errorf("read stream %s from offset %d on %s: %w", q.names.records(), from, l.url, err)
	}
	page.Next = after
	dedup := newEventFeed(q)
	for {
		var d amqp.Delivery
		var ok bool
		select {
		case d, ok = <-deliveries:
		case <-ctx.Done():
			return page, ctx.Err()
		case <-time.After(feedSyncWithin):
			return page, fmt.Errorf("read stream %s from offset %d on %s: nothing delivered within %s", q.names.records(), from, l.url, feedSyncWithin)
		}
		if !ok {
			return page, fmt.Errorf("read stream %s from offset %d on %s: the channel closed", q.names.records(), from, l.url)
		}
		off := headerInt(d.Headers, "x-stream-offset")
		d.Ack(false)
		if off < from {
			continue
		}
		if off >= stop {
			page.Next = max(page.Next, endID(stop-1))
			return page, nil
		}
		evs, _ := decodeEvents(d.Body)
		for _, e := range dedup.jobEventsLocked(off, evs) {
			if e.ID <= after {
				continue
			}
			if filter.Match(&e) {
				page.Events = append(page.Events, e)
			}
			page.Next = e.ID
			if len(page.Events) == limit {
				return page, nil
			}
		}
		page.Next = max(page.Next, endID(off))
	}
}

// firstOffset is the offset of the oldest message the records stream
// still holds, asked of the broker by a reader from "first".
func (q *Queue) firstOffset(ctx context.Context) (int64, error) {
	q.mu.Lock()
	l := q.link
	q.mu.Unlock()
	if l == nil {
		return 0, q.unavailable("read events")
	}
	ch, err := l.conn.Channel()
	if err != nil {
		return 0, fmt.Errorf("open channel on %s: %w", l.url, err)
	}
	defer ch.Close()
	if err := ch.Qos(1, 0, false); err != nil {
		return 0, fmt.Errorf("set prefetch on %s: %w", l.url, err)
	}
	deliveries, err := ch.Consume(q.names.records(), "", false, false, false, false, amqp.Table{"x-stream-offset": "first"})
	if err != nil {
		return 0, fmt.Errorf("read stream %s from its first offset on %s: %w", q.names.records(), l.url, err)
	}
	select {
	case d, ok := <-deliveries:
		if !ok {
			return 0, fmt.Errorf("read stream %s from its first offset on %s: the channel closed", q.names.records(), l.url)
		}
		return headerInt(d.Headers, "x-stream-offset"), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(feedSyncWithin):
		return 0, fmt.Errorf("read stream %s from its first offset on %s: nothing delivered within %s", q.names.records(), l.url, feedSyncWithin)
	}
}
