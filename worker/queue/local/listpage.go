package local

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"

	"kiln/worker"
)

// ListAfter lists jobs as List does, a page at a time. The cursor is the
// by-state index key of the page's last job, so the next page starts right
// after it even if that job has changed state or gone since; it is opaque
// to clients, who hand it back as it is.
func (s *Store) ListAfter(ctx context.Context, queue string, state worker.State, after string, limit int) ([]*worker.JobRecord, string, error) {
	if limit <= 0 {
		limit = 100
	}
	states := worker.States
	if state != "" {
		states = []worker.State{state}
	}
	var from []byte
	if after != "" {
		k, err := base64.RawURLEncoding.DecodeString(after)
		if err != nil || len(k) < 2 {
			return nil, "", badCursor(after)
		}
		i := slices.IndexFunc(states, func(st worker.State) bool { return stateCodes[st] == k[0] })
		if i < 0 || !hasPrefix(k, stateQueuePrefix(states[i], queue)) {
			// A cursor of another listing (another state or queue).
			return nil, "", badCursor(after)
		}
		states, from = states[i:], k
	}
	var jobs []*worker.JobRecord
	var next string
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketByState).Cursor()
		var last []byte
		for i, st := range states {
			prefix := stateQueuePrefix(st, queue)
			k, _ := c.Seek(prefix)
			if i == 0 && from != nil {
				if k, _ = c.Seek(from); k != nil && bytes.Equal(k, from) {
					k, _ = c.Next()
				}
			}
			for ; k != nil && hasPrefix(k, prefix); k, _ = c.Next() {
				if len(jobs) == limit {
					// One more exists: the page is not the last.
					next = base64.RawURLEncoding.EncodeToString(last)
					return nil
				}
				j, err := getJob(tx, idOfByStateKey(k))
				if err != nil {
					return err
				}
				jobs = append(jobs, j)
				last = bytes.Clone(k)
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list jobs in %s: %w", s.path, err)
	}
	return jobs, next, nil
}

func badCursor(after string) error {
	return &worker.FieldError{Field: "after", Msg: fmt.Sprintf("%q is not a cursor of this listing: pass the next of the previous page, with the same queue and state", after)}
}
