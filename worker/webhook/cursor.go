package webhook

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"kiln/internal/durable"
	"kiln/worker"
)

var errNoCursor = errors.New("no saved cursor")

// Cursor keeps the notifier's place in the event log: the ID of the last
// event whose deliveries are queued.
type Cursor interface {
	// Load returns the saved ID, or errNoCursor when none was saved.
	Load() (uint64, error)
	// Save stores id durably.
	Save(ctx context.Context, id uint64) error
}

// FileCursor is the cursor of a queue of this host's own: a file in the
// state directory, replaced atomically.
type FileCursor string

// Load implements Cursor.
func (path FileCursor) Load() (uint64, error) {
	b, err := os.ReadFile(string(path))
	if errors.Is(err, os.ErrNotExist) {
		return 0, errNoCursor
	}
	if err != nil {
		return 0, fmt.Errorf("webhooks: read cursor: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("webhooks: cursor file %s holds %q, not an event ID", string(path), b)
	}
	return n, nil
}

// Save implements Cursor.
func (path FileCursor) Save(_ context.Context, id uint64) error {
	return durable.ReplaceFile(string(path), []byte(strconv.FormatUint(id, 10)+"\n"), 0o640)
}

// leadCursor is the cursor of a shared queue: the state of the lead that
// the notifier runs under, which the next leader reads.
type leadCursor struct{ state worker.LeadState }

// Load implements Cursor.
func (c leadCursor) Load() (uint64, error) {
	if v, ok := c.state.Saved(); ok {
		return v, nil
	}
	return 0, errNoCursor
}

// Save implements Cursor.
func (c leadCursor) Save(ctx context.Context, id uint64) error { return c.state.Save(ctx, id) }
