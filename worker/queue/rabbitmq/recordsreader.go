package rabbitmq

import (
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// readerState is where the records reader stands; Queue.mu guards it.
type readerState struct {
	offset int64 // next records stream offset to read
	// gap is the last jump of the reader's offsets, seen gapCount times
	// (gapSeen).
	gap      [2]int64
	gapCount int
	synced   bool // the records have been read up to the first connection
	syncing  bool // a connection is reading the records up to its start
	syncCh   chan struct{}
	// markers counts the sync markers published; markerSeen holds the
	// channel closed when the reader reads one back (readToNow).
	markers    int
	markerSeen map[string]chan struct{}
}

func newReaderState() readerState {
	return readerState{syncCh: make(chan struct{}), markerSeen: map[string]chan struct{}{}}
}

// The records reader: every kilnd follows the records stream and applies
// its events to the job records, with the rules for offsets that jump and
// a probe that remakes a reader that stopped.

// readRecords follows the records stream from the offset after the last
// event read, and applies each event.
//
// A reader attached to a replica that was behind when the stream's leader
// died can go on past events it never delivered. A reader that sees its
// offsets jump therefore stops, and reads again from the first one it
// missed a moment later, once the replica has caught up. Not every offset
// is a message, though (the broker writes an entry of its own where a
// segment starts): a jump seen again the same way gapConfirmations times
// is such an entry, and read past. Events read twice are harmless: a
// record takes only changes newer than its own.
func (q *Queue) readRecords(l *link) error {
	q.mu.Lock()
	var offset any = "first"
	next := q.offset
	if next > 0 {
		offset = next
	} else if q.past != nil {
		// A host that joined reads from the last chunk on; the past is
		// read behind it (join.go).
		offset = "last"
	}
	q.mu.Unlock()
	ch, deliveries, err := readStream(l, q.followed(), offset, liveStreamCredit)
	if err != nil {
		return err
	}
	go func() {
		for d := range deliveries {
			off := headerInt(d.Headers, "x-stream-offset")
			if next == 0 {
				q.mu.Lock()
				if q.past != nil && q.past.until == 0 {
					q.past.until = off
				}
				q.mu.Unlock()
			}
			if next > 0 && off > next && !q.gapSeen(next, off) {
				q.log.Debug("records stream skipped offsets; reading them again", "stream", q.followed(), "url", l.url, "from", next, "to", off-1)
				ch.Close()
				q.rereadRecords(l)
				return
			}
			if off < next {
				d.Ack(false) // a chunk is delivered from its start
				continue
			}
			if q.ownApplied(d) {
				q.mu.Lock()
				next = off + 1
				q.offset = next
				q.mu.Unlock()
				d.Ack(false)
				continue
			}
			evs, err := decodeEvents(d.Body)
			if err != nil {
				q.log.Warn("unreadable events in the records stream, skipped", "stream", q.followed(), "offset", off, "err", err)
			}
			q.mu.Lock()
			for _, e := range evs {
				if e != nil && e.Kind != "" {
					q.applyLocked(e)
				}
			}
			next = off + 1
			q.offset = next
			behind := q.behindFileLocked()
			q.mu.Unlock()
			d.Ack(false)
			if behind {
				q.waitForFlush()
			}
		}
	}()
	return nil
}

// ownApplied reports whether a message of the records holds only events
// this process published and applied when it did (which is all of its own
// but the sync markers, once the records are read up to the first
// connection).
func (q *Queue) ownApplied(d amqp.Delivery) bool {
	if h, _ := d.Headers[hdrHost].(string); h != q.host {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.readBackLocked(d)
	return q.synced
}

// rereadDelay is how long a reader that missed events waits before it
// reads them again; gapConfirmations is how many times it sees the same
// jump before it takes it for offsets that hold no message.
const (
	rereadDelay      = 500 * time.Millisecond
	gapConfirmations = 3
)

// gapSeen counts a jump of the records reader from next to off, and
// reports whether it has now been seen gapConfirmations times.
func (q *Queue) gapSeen(next, off int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.gap != [2]int64{next, off} {
		q.gap, q.gapCount = [2]int64{next, off}, 0
	}
	q.gapCount++
	if q.gapCount < gapConfirmations {
		return false
	}
	q.log.Debug("records stream offsets without a message, read past", "stream", q.names.records(), "from", next, "to", off-1)
	return true
}

// rereadRecords starts a new reader of the records on l from the first
// event not read, unless l is gone (the next connection reads on).
func (q *Queue) rereadRecords(l *link) {
	select {
	case <-q.closing:
		return
	case <-time.After(rereadDelay):
	}
	if l.conn.IsClosed() {
		return
	}
	if err := q.readRecords(l); err != nil {
		q.log.Error("records stream cannot be read again; reconnecting", "err", err)
		l.conn.CloseDeadline(time.Now().Add(closeWithin))
	}
}

// Records liveness: every probeEvery a marker is published to the records,
// and a reader that has not read it back within probeWithin is stuck; the
// connection is then made anew. (A RabbitMQ 3.10 stream consumer on a
// replica was seen to stop reading after the stream's leader was killed,
// while a new consumer reads on.)
const (
	probeEvery  = 5 * time.Second
	probeWithin = 15 * time.Second
)

// sendMarker publishes a sync marker of this process on l; seen is closed
// when the records reader reads it back, by when it has read every event
// published before it. forget drops the wait; call it in every case.
func (q *Queue) sendMarker(l *link, kind string) (seen <-chan struct{}, forget func(), err error) {
	q.mu.Lock()
	q.markers++
	marker := fmt.Sprintf("%s#%s%d", q.host, kind, q.markers)
	ch := make(chan struct{})
	q.markerSeen[marker] = ch
	q.mu.Unlock()
	forget = func() {
		q.mu.Lock()
		delete(q.markerSeen, marker)
		q.mu.Unlock()
	}
	return ch, forget, q.sendEvents(l, &event{Kind: evSync, Host: q.host, Marker: marker})
}

// catchUpWithin bounds the wait of catchUp.
const catchUpWithin = 5 * time.Second

// catchUp returns once the records reader has read every event published
// before the call (a sync marker of this process read back), or after
// catchUpWithin; the judgement then goes on with what was read.
func (q *Queue) catchUp(l *link) {
	if err := q.readToNow(l, "catchup", catchUpWithin); err != nil {
		q.log.Warn("records not read up to now before judging a redelivered job", "err", err)
	}
}

// readToNow returns nil once the records reader has read every event
// published before the call: at once before the first sync is done
// (which reads up to its start anyway), else when a sync marker of this
// process is read back, within the wait.
func (q *Queue) readToNow(l *link, kind string, within time.Duration) error {
	q.mu.Lock()
	synced := q.synced
	q.mu.Unlock()
	if !synced {
		return nil
	}
	seen, forget, err := q.sendMarker(l, kind)
	defer forget()
	if err != nil {
		return fmt.Errorf("read the records up to now: %w", err)
	}
	select {
	case <-seen:
		return nil
	case <-q.closing:
		return errors.New("read the records up to now: closing")
	case <-time.After(within):
		return fmt.Errorf("read the records up to now: the marker was not read back within %s", within)
	}
}

func (q *Queue) watchRecords(l *link) {
	closed := l.conn.NotifyClose(make(chan *amqp.Error, 1))
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-closed:
			return
		case <-q.closing:
			return
		case <-tick.C:
		}
		sentAt := time.Now()
		seen, forget, err := q.sendMarker(l, "probe")
		if err == nil {
			select {
			case <-seen:
			case <-closed:
				forget()
				return
			case <-q.closing:
				forget()
				return
			case <-time.After(probeWithin):
				err = fmt.Errorf("the records reader did not read back a marker within %s", probeWithin)
			}
		}
		forget()
		if err != nil {
			q.log.Error("records stream stuck; reconnecting", "stream", q.followed(), "url", l.url, "err", err)
			l.conn.CloseDeadline(time.Now().Add(closeWithin))
			return
		}
		q.resendLost(l, sentAt)
	}
}

// The credit of a stream reader is the messages the broker may send it
// ahead of its acks, which wait in this process's memory: an event message
// holds up to 256 events. The live reader keeps up with the fleet's
// submits; the reader of the past behind a join runs in the background and
// waits for the records file, so a credit of the live reader's size held
// about 100 MB of messages there.
const (
	liveStreamCredit = 1000
	pastStreamCredit = 32
)

// readStream opens a channel on l that reads stream from offset (a
// number, "first", "last" or "next"), with credit messages in flight.
func readStream(l *link, stream string, offset any, credit int) (*amqp.Channel, <-chan amqp.Delivery, error) {
	ch, err := l.conn.Channel()
	if err != nil {
		return nil, nil, fmt.Errorf("open a channel for stream %s on %s: %w", stream, l.url, err)
	}
	// A stream consumer needs a prefetch: it is its credit.
	if err := ch.Qos(credit, 0, false); err != nil {
		ch.Close()
		return nil, nil, fmt.Errorf("set the prefetch for stream %s on %s: %w", stream, l.url, err)
	}
	deliveries, err := ch.Consume(stream, "", false, false, false, false, amqp.Table{"x-stream-offset": offset})
	if err != nil {
		ch.Close()
		return nil, nil, fmt.Errorf("read stream %s on %s: %w", stream, l.url, err)
	}
	return ch, deliveries, nil
}
