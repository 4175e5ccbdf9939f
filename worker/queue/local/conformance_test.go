package local

import (
	"path/filepath"
	"testing"

	"kiln/worker"
	"kiln/worker/queuetest"
)

// The local store passes the backend conformance suite.
func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, queuetest.Backend{
		Open: func(t *testing.T, maxQueued worker.MaxQueued) worker.Queue {
			s, err := Open(filepath.Join(t.TempDir(), "queue.db"), maxQueued)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		Crash: func(t *testing.T, q worker.Queue) worker.Queue {
			old := q.(*Store)
			// Closing keeps every lease in the file, exactly as a kill -9
			// would; the next Open must recover them.
			old.Close()
			s, err := Open(old.Path(), old.maxQueued)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	})
}
