package rabbitmq

import (
	"fmt"
	"time"
)

// Setting up a connection: the topology, the records read up to the
// moment of connecting, then the consumers; and forgetting a lost one.

// syncWithin bounds a pause of the records reader while it reads up to a
// new connection's start.
const syncWithin = 30 * time.Second

// setUp declares the topology on a new link, reads the records up to now,
// and then consumes the attached queues: a delivery is judged against
// records that are current (a job another host finished or cancelled
// while this one was away is not run again).
func (q *Queue) setUp(l *link) error {
	if err := q.declareBase(l); err != nil {
		return err
	}
	q.tryJoin(l)
	if err := q.readRecords(l); err != nil {
		return err
	}
	// Read back to this marker, this process has read every event
	// published before it.
	q.mu.Lock()
	q.syncing = true
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.syncing = false
		q.mu.Unlock()
	}()
	seen, forget, err := q.sendMarker(l, "sync")
	defer forget()
	if err != nil {
		return err
	}
	// A long history takes long to read; a reader that stops reading is
	// what fails.
	check := time.NewTicker(syncWithin)
	defer check.Stop()
	q.mu.Lock()
	last := q.offset
	q.mu.Unlock()
	for caughtUp := false; !caughtUp; {
		select {
		case <-seen:
			caughtUp = true
		case <-check.C:
			q.mu.Lock()
			now := q.offset
			q.mu.Unlock()
			if now == last {
				return fmt.Errorf("read stream %s on %s: the records reader read nothing for %s (at offset %d)", q.followed(), l.url, syncWithin, now)
			}
			last = now
		case <-q.closing:
			return fmt.Errorf("read stream %s on %s: closing", q.followed(), l.url)
		}
	}

	if err := q.startPast(l); err != nil {
		return err
	}
	go q.serveHistory(l)

	q.mu.Lock()
	q.link = l
	q.health = nil
	var attached []string
	for name, qs := range q.queues {
		if qs.attach {
			attached = append(attached, name)
		}
	}
	q.mu.Unlock()
	for _, name := range attached {
		if _, err := q.ensureQueue(name, true); err != nil {
			q.dropLink(l, err)
			return err
		}
	}
	q.mu.Lock()
	if !q.synced {
		q.synced = true
		close(q.syncCh)
	}
	q.mu.Unlock()
	go q.watchRecords(l)
	q.signalReady()
	return nil
}

// dropLink forgets a lost link: deliveries in hand are void (the broker
// delivers them again), and nothing is declared on the next link yet.
func (q *Queue) dropLink(l *link, why error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.link != l {
		return
	}
	q.link = nil
	q.health = why
	for _, qs := range q.queues {
		qs.on, qs.consuming, qs.buf, qs.held = nil, false, nil, nil
		if qs.timer != nil {
			qs.timer.Stop()
		}
	}
}
