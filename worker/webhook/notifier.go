package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"kiln/worker"
)

// eventsPerPage is how many events the notifier reads at a time; the
// deliveries of one page are queued in one batch (one commit).
const eventsPerPage = 256

// cursorSaveEvery bounds how stale the saved cursor gets while events pass
// that need no delivery.
const cursorSaveEvery = 10 * time.Second

// retryAfter is the pause after a failed read or submit.
const retryAfter = time.Second

// Body is what a delivery POSTs.
type Body struct {
	EventID uint64            `json:"event_id"`
	Event   string            `json:"event"` // job.succeeded or job.dead
	Time    time.Time         `json:"time"`
	Job     *worker.JobRecord `json:"job"`
}

// Notifier follows the event log and queues a delivery for every job that
// succeeded or went dead where a notify_url asks for one. Its place in the
// log is saved in a file after the deliveries are durable, so a crash
// repeats deliveries rather than losing them.
type Notifier struct {
	Queue  worker.Queue
	Events worker.EventLog
	// Target is the URL that hears of a job's end, "" for none.
	Target func(j *worker.JobRecord) string
	// Enabled says whether any notify_url is configured; when not, events
	// pass without a look at their jobs.
	Enabled func() bool
	// Submit queues delivery jobs with their queue's settings, all or none.
	Submit func(ctx context.Context, deliveries []Payload) error
	// Cursor keeps the last event ID handled.
	Cursor Cursor
	Log    *slog.Logger
}

// Run follows the log until ctx is done.
func (n *Notifier) Run(ctx context.Context) error {
	cursor, err := n.loadCursor(ctx)
	if err != nil {
		return err
	}
	saved, savedAt := cursor, time.Now()
	for {
		changed := n.Events.EventsChanged()
		// Without a notify_url no event needs a look: the log's head is
		// read alone and the cursor passes over everything before it.
		enabled := n.Enabled()
		limit := eventsPerPage
		if !enabled {
			limit = 0
		}
		page, err := n.Events.Events(ctx, cursor, worker.EventFilter{States: []worker.State{worker.StateSucceeded, worker.StateDead}}, limit)
		if !enabled {
			page.Next = max(page.Last, cursor)
		}
		if err == nil && enabled && page.FirstKept > cursor+1 {
			n.Log.Error("webhooks: events were removed by retention before their deliveries were queued; those jobs are not announced",
				"from_event", cursor+1, "to_event", page.FirstKept-1)
		}
		var deliveries []Payload
		if err == nil && enabled {
			deliveries, err = n.deliveries(ctx, page.Events)
		}
		if err == nil && len(deliveries) > 0 {
			err = n.Submit(ctx, deliveries)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			n.Log.Error("webhooks: queueing deliveries failed; trying again", "after_event", cursor, "err", err)
			select {
			case <-time.After(retryAfter):
				continue
			case <-ctx.Done():
				return nil
			}
		}
		cursor = page.Next
		if cursor != saved && (len(deliveries) > 0 || time.Since(savedAt) > cursorSaveEvery) {
			if err := n.Cursor.Save(ctx, cursor); err != nil {
				n.Log.Error("webhooks: saving the event cursor failed; deliveries after a restart may repeat", "err", err)
			} else {
				saved, savedAt = cursor, time.Now()
			}
		}
		if page.Next < page.Last || len(page.Events) == eventsPerPage {
			continue
		}
		select {
		case <-changed:
		case <-time.After(cursorSaveEvery):
		case <-ctx.Done():
			return nil
		}
	}
}

// loadCursor reads the saved cursor; without one, the notifier starts at
// the newest event, so that turning webhooks on does not announce history.
func (n *Notifier) loadCursor(ctx context.Context) (uint64, error) {
	cursor, err := n.Cursor.Load()
	if err == nil {
		return cursor, nil
	}
	if !errors.Is(err, errNoCursor) {
		return 0, err
	}
	head, err := n.Events.Events(ctx, 0, worker.EventFilter{}, 0)
	if err != nil {
		return 0, fmt.Errorf("webhooks: read the event log: %w", err)
	}
	if err := n.Cursor.Save(ctx, head.Last); err != nil {
		return 0, fmt.Errorf("webhooks: %w", err)
	}
	return head.Last, nil
}

// deliveries builds a delivery for each event whose job asks for one.
func (n *Notifier) deliveries(ctx context.Context, events []worker.Event) ([]Payload, error) {
	var out []Payload
	for _, e := range events {
		if e.Type == JobType {
			continue // a delivery's own end is never announced
		}
		j, err := n.Queue.Get(ctx, e.Job)
		if errors.Is(err, worker.ErrNotFound) {
			n.Log.Warn("webhooks: job was purged before its end was announced", "job", e.Job, "event", e.ID)
			continue
		}
		if err != nil {
			return nil, err
		}
		url := n.Target(j)
		if url == "" {
			continue
		}
		// The job as it was at the event: it may have been retried since.
		j.State = e.State
		body, err := json.Marshal(Body{EventID: e.ID, Event: "job." + string(e.State), Time: e.Time, Job: j})
		if err != nil {
			return nil, fmt.Errorf("webhooks: encode event %d: %w", e.ID, err)
		}
		out = append(out, Payload{URL: url, EventID: e.ID, Body: body})
	}
	return out, nil
}
