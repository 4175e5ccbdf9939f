package rabbitmq

import (
	"strconv"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// readbackState is this process's confirmed event messages not read back
// from the records yet; Queue.mu guards unread, msgSeq is atomic.
type readbackState struct {
	unread map[string]unreadMsg
	msgSeq atomic.Uint64 // numbers the messages
}

// A RabbitMQ stream can lose messages it has confirmed when its leader
// fails over (rabbitmq-server issue 9457; seen here with 3.10 in a
// three-node cluster: hundreds of confirmed events of one host never
// reached any reader). The job queues are quorum queues and lose nothing,
// but a lost event leaves every other host showing the job as it was
// before. So each kilnd checks that its own event messages come back in
// the records: every message gets an ID (hdrMsg), is remembered once
// confirmed, and is forgotten when the reader reads it back. A sync marker
// read back proves that the reader has passed everything appended before
// it; a message confirmed before that marker was published and still not
// read is lost, and is published again. Events are idempotent (a record
// takes only changes newer than its own), so a copy read twice is
// harmless.

// hdrMsg identifies one event message of its publisher.
const hdrMsg = "kiln-msg"

// maxUnread bounds the messages remembered until read back: a reader that
// stalls for long is made anew by the probe, and past this bound newer
// messages go unchecked rather than grow memory.
const maxUnread = 100_000

// unreadMsg is a confirmed event message not read back yet.
type unreadMsg struct {
	out         outgoing
	confirmedAt time.Time
}

// stampMessage gives an event message its ID.
func (q *Queue) stampMessage(msg *amqp.Publishing) {
	msg.Headers[hdrMsg] = strconv.FormatUint(q.msgSeq.Add(1), 10)
}

// expectMessages remembers event messages about to be published: before
// the publish, since the reader may read one back before its confirm
// arrives.
func (q *Queue) expectMessages(msgs []outgoing) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		id, _ := m.msg.Headers[hdrMsg].(string)
		if id == "" || len(q.unread) >= maxUnread {
			continue
		}
		q.unread[id] = unreadMsg{out: m}
	}
}

// settleMessages records the outcome of publishing expected messages: the
// confirmed ones are checked from now on, the others forgotten (their
// publisher learnt of the failure and acts on it).
func (q *Queue) settleMessages(msgs []outgoing, acked []bool) {
	t := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, m := range msgs {
		id, _ := m.msg.Headers[hdrMsg].(string)
		u, ok := q.unread[id]
		switch {
		case !ok:
			// read back already
		case i < len(acked) && acked[i]:
			u.confirmedAt = t
			q.unread[id] = u
		default:
			delete(q.unread, id)
		}
	}
}

// readBack forgets an own message the reader read; mu is held.
func (q *Queue) readBackLocked(d amqp.Delivery) {
	if id, _ := d.Headers[hdrMsg].(string); id != "" {
		delete(q.unread, id)
	}
}

// resendLost publishes again the messages confirmed before the reader was
// proven to have passed the moment before (a marker published then was
// read back) and still not read.
func (q *Queue) resendLost(l *link, before time.Time) {
	var lost []outgoing
	q.mu.Lock()
	for id, m := range q.unread {
		if !m.confirmedAt.IsZero() && m.confirmedAt.Before(before) {
			lost = append(lost, m.out)
			delete(q.unread, id)
		}
	}
	q.mu.Unlock()
	if len(lost) == 0 {
		return
	}
	q.log.Warn("event messages the broker confirmed never reached the records stream; publishing them again",
		"stream", q.names.records(), "messages", len(lost))
	for i := range lost {
		q.stampMessage(&lost[i].msg)
	}
	q.expectMessages(lost)
	acked, err := q.publishEventMessages(l, lost)
	q.settleMessages(lost, acked)
	if err != nil {
		q.log.Error("could not publish lost event messages again; other hosts may show those jobs as they were", "messages", len(lost), "err", err)
	}
}
