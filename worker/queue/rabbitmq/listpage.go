package rabbitmq

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"kiln/worker"
)

// ListAfter lists jobs as List does, a page at a time. The cursor is the
// creation time and ID of the page's last job, the order List sorts by, so
// the next page starts right after it even if that job has gone since; it
// is opaque to clients, who hand it back as it is. Only the page is copied
// out of the records.
func (q *Queue) ListAfter(ctx context.Context, queue string, state worker.State, after string, limit int) ([]*worker.JobRecord, string, error) {
	if limit <= 0 {
		limit = 100
	}
	if q.asksOthers() {
		ans, err := q.askHistory(ctx, historyRequest{Op: "list", Queue: queue, State: state, Cursor: after, Limit: limit}, askWithin)
		if err != nil {
			return nil, "", fmt.Errorf("list jobs: %w", err)
		}
		return ans.Jobs, ans.Next, nil
	}
	var fromAt time.Time
	var fromID string
	if after != "" {
		var ok bool
		if fromAt, fromID, ok = parseListCursor(after); !ok {
			return nil, "", &worker.FieldError{Field: "after", Msg: fmt.Sprintf("%q is not a cursor of this listing: pass the next of the previous page", after)}
		}
	}
	if state == worker.StateDead && after == "" && q.Health() == nil {
		// As List does, once per listing: its first page.
		if _, err := q.sweepDeadLetters(queue, true); err != nil {
			q.log.Warn("dead-letter sweep before listing dead jobs failed; listing the records", "queue", queue, "err", err)
		}
	}
	page, more, err := q.listFrom(queue, state, fromAt, fromID, limit)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if more {
		last := page[len(page)-1]
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last.CreatedAt.UnixNano(), 10) + " " + last.ID))
	}
	return page, next, nil
}

func parseListCursor(after string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(after)
	if err != nil {
		return time.Time{}, "", false
	}
	nanos, id, ok := strings.Cut(string(b), " ")
	n, err := strconv.ParseInt(nanos, 10, 64)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", false
	}
	return time.Unix(0, n), id, true
}
