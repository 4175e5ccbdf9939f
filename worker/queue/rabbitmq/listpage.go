package rabbitmq

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
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
	q.mu.Lock()
	var matched []*record
	for _, r := range q.records {
		j := &r.job
		if (queue != "" && j.Queue != queue) || (state != "" && j.State != state) {
			continue
		}
		if after != "" && !(j.CreatedAt.After(fromAt) || (j.CreatedAt.Equal(fromAt) && j.ID > fromID)) {
			continue
		}
		matched = append(matched, r)
	}
	sort.Slice(matched, func(i, k int) bool {
		a, b := &matched[i].job, &matched[k].job
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	})
	page := make([]*worker.JobRecord, min(limit, len(matched)))
	for i := range page {
		page[i] = matched[i].snapshot()
	}
	q.mu.Unlock()
	next := ""
	if len(matched) > limit {
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
