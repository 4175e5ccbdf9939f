package rabbitmq

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Events are written in groups: every event asked for while earlier ones
// were being confirmed goes out in the next group, one message per routing
// key, its body a JSON array of the events. Under load one confirmed
// message then carries the events of many jobs, which is what keeps the
// broker's work per job close to that of a bare job message; alone, an
// event still goes out at once.

// eventFlushers is how many groups may await their confirms at once. One:
// while a group awaits its confirm the next one fills, and fewer, larger
// messages cost the broker less (measured with bench-queue: 6.5k jobs/s
// one request per job with one writer, 5.5k with four).
const eventFlushers = 1

// maxEventsPerMessage bounds one message's events (and so its size: an
// event carries its job, payload included).
const maxEventsPerMessage = 256

// eventBatch is the events one caller asks to publish on link l.
type eventBatch struct {
	l    *link
	evs  []*event
	done chan error // nil: nobody waits
}

// startEventWriters starts the goroutines that publish event groups.
func (q *Queue) startEventWriters() {
	for range eventFlushers {
		go q.eventWriter()
	}
}

func (q *Queue) eventWriter() {
	for {
		var first eventBatch
		select {
		case first = <-q.eventsIn:
		case <-q.closing:
			return
		}
		batches, n := []eventBatch{first}, len(first.evs)
	more:
		for n < 4*maxEventsPerMessage {
			select {
			case b := <-q.eventsIn:
				batches, n = append(batches, b), n+len(b.evs)
			default:
				break more
			}
		}
		q.flushEvents(batches)
	}
}

// flushEvents publishes the events of batches, grouped by link and
// routing key, and answers each waiting caller.
func (q *Queue) flushEvents(batches []eventBatch) {
	byLink := map[*link][]eventBatch{}
	var order []*link
	for _, b := range batches {
		if _, seen := byLink[b.l]; !seen {
			order = append(order, b.l)
		}
		byLink[b.l] = append(byLink[b.l], b)
	}
	for _, l := range order {
		bs := byLink[l]
		err := q.publishEventGroups(l, bs)
		for _, b := range bs {
			if b.done != nil {
				b.done <- err
			}
		}
	}
}

func (q *Queue) publishEventGroups(l *link, bs []eventBatch) error {
	if l == nil {
		return q.unavailable("publish events")
	}
	var all []*event
	for _, b := range bs {
		all = append(all, b.evs...)
	}
	var msgs []outgoing
	for _, g := range eventGroups(all) {
		k, evs := g.key, g.evs
		for _, msg := range eventsMessages(q.host, evs) {
			if msg.Headers != nil && q.readsBack(k) {
				q.stampMessage(&msg)
			}
			msgs = append(msgs, outgoing{q.names.eventsExchange(), k, msg})
		}
	}
	q.expectMessages(msgs)
	acked, err := q.publishEventMessages(l, msgs)
	q.settleMessages(msgs, acked)
	return err
}

// eventGroup is events that go out under one routing key.
type eventGroup struct {
	key string
	evs []*event
}

// eventGroups groups events by routing key, in the order they go out. A
// job's events must stay in the order they were asked for (its running
// before its success): the n-th event of a job goes in the n-th wave, and
// the waves go out one after another, each grouped by key.
func eventGroups(evs []*event) []eventGroup {
	type groupKey struct {
		wave int
		key  string
	}
	at := map[groupKey]int{}
	var out []eventGroup
	var waveOf []int
	waves := map[string]int{}
	for _, e := range evs {
		k := groupKey{key: e.routingKey()}
		if id := e.jobID(); id != "" {
			k.wave = waves[id]
			waves[id]++
		}
		i, seen := at[k]
		if !seen {
			i = len(out)
			at[k] = i
			out = append(out, eventGroup{key: k.key})
			waveOf = append(waveOf, k.wave)
		}
		out[i].evs = append(out[i].evs, e)
	}
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(waveOf[a], waveOf[b]) })
	sorted := make([]eventGroup, len(out))
	for i, j := range order {
		sorted[i] = out[j]
	}
	return sorted
}

// hdrHost names the kilnd that published a message of events, so that it
// can pass over its own messages in the records without reading them. A
// message of sync markers, which their publisher must read back, has none.
const hdrHost = "kiln-host"

// eventConfirmFirst is how long event messages wait for their confirms on
// the link's event channel before they are published again on a new one.
// A RabbitMQ 3.10 channel that published to a stream whose leader died
// never confirms again, while a new channel does; events are idempotent,
// so publishing them twice is harmless, and the surviving hosts of a
// cluster resume after this wait rather than after a reconnect.
const eventConfirmFirst = 1500 * time.Millisecond

// publishEventMessages publishes event messages on the link's event
// channel, once more on a new channel if the first gave no confirm in
// time, and makes the connection anew if neither did.
func (q *Queue) publishEventMessages(l *link, msgs []outgoing) ([]bool, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	if l == nil {
		return nil, q.unavailable("publish events")
	}
	ch := l.eventChannel()
	acked, timedOut, err := q.publishOn(l, ch, msgs, eventConfirmFirst)
	if !timedOut {
		return acked, err
	}
	q.log.Warn("no confirm for event messages; publishing them again on a new channel", "url", l.url, "waited", eventConfirmFirst, "messages", len(msgs))
	ch, nerr := l.renewEventChannel(ch)
	if nerr != nil {
		q.reconnectUnconfirmed(l, eventConfirmFirst)
		return acked, err
	}
	acked, timedOut, err = q.publishOn(l, ch, msgs, confirmWithin)
	if timedOut {
		q.reconnectUnconfirmed(l, eventConfirmFirst+confirmWithin)
	}
	return acked, err
}

// maxEventMessageBytes bounds an events message's body. RabbitMQ 4.0
// refuses messages over 16 MiB by default (max_message_size; 3.10 allowed
// 128 MiB), and 256 queued events with their payloads of up to 64 KiB each
// would reach that; a few MiB keeps every message well clear of it and of
// the stream's segment size.
const maxEventMessageBytes = 4 << 20

// eventsMessages is the messages of events that share a routing key, in
// their order: at most maxEventsPerMessage events each (an event's ID
// keeps its index in its message in 10 bits) and, but for a single event
// bigger than that, at most maxEventMessageBytes.
func eventsMessages(host string, evs []*event) []amqp.Publishing {
	var msgs []amqp.Publishing
	body := make([]byte, 0, 512*min(len(evs), maxEventsPerMessage))
	n := 0
	flush := func() {
		body = append(body, ']')
		msg := amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json", Body: body}
		if evs[0].Kind != evSync { // a message's events share their routing key, and so their kind
			msg.Headers = amqp.Table{hdrHost: host}
		}
		msgs = append(msgs, msg)
		body, n = nil, 0
	}
	for _, e := range evs {
		start := len(body)
		if n == 0 {
			body = append(body, '[')
		} else {
			body = append(body, ',')
		}
		body = appendEvent(body, e)
		if n > 0 && len(body)+1 > maxEventMessageBytes {
			// e goes first in a message of its own: this one ends before it.
			body = body[:start]
			flush()
			body = appendEvent(append(body, '['), e)
		}
		n++
		if n == maxEventsPerMessage {
			flush()
		}
	}
	if n > 0 {
		flush()
	}
	return msgs
}

// sendEvents publishes events on l and returns once the broker confirmed
// them, or with why it did not.
func (q *Queue) sendEvents(l *link, evs ...*event) error {
	return q.awaitEvents(l, q.queueEvents(l, evs))
}

// queueEvents hands events to the event writers; awaitEvents waits for
// their confirms.
func (q *Queue) queueEvents(l *link, evs []*event) chan error {
	if len(evs) == 0 {
		return nil
	}
	q.fillFrom(evs)
	done := make(chan error, 1)
	select {
	case q.eventsIn <- eventBatch{l: l, evs: evs, done: done}:
	case <-q.closing:
		done <- q.unavailable("publish events")
	}
	return done
}

func (q *Queue) awaitEvents(l *link, done chan error) error {
	if done == nil {
		return nil
	}
	select {
	case err := <-done:
		return err
	case <-time.After(2 * confirmWithin):
		return fmt.Errorf("publish events on %s: no confirm within %s", linkURL(l), 2*confirmWithin)
	}
}

// sendEventsLater publishes events whose loss costs only a late view on
// other hosts (a job shown queued while it runs): nobody waits for them.
func (q *Queue) sendEventsLater(l *link, evs ...*event) {
	if len(evs) == 0 || l == nil {
		return
	}
	q.fillFrom(evs)
	select {
	case q.eventsIn <- eventBatch{l: l, evs: evs}:
	case <-q.closing:
	}
}

// publishWith publishes job messages in one pipelined window and, once the
// broker confirmed them, events through the event writers, and returns once
// those are confirmed too, with the first problem. In that order, an event never names a copy the broker
// refused (a consumer would take the copy it replaces for stale and ack it
// away); an event lost after its copy costs at most a second run.
func (q *Queue) publishWith(l *link, msgs []outgoing, evs ...*event) error {
	if _, err := q.publishEach(l, msgs); err != nil {
		return err
	}
	return q.sendEvents(l, evs...)
}

// fillFrom gives each job event the state its job had here before it:
// events are published before this process applies them to its records.
func (q *Queue) fillFrom(evs []*event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range evs {
		if e.Job == nil || e.From != "" {
			continue
		}
		setFrom(e, q.recordLocked(e.Job.ID))
	}
}

func linkURL(l *link) string {
	if l == nil {
		return "(no connection)"
	}
	return l.url
}
