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
	queuetest.Run(t, localBackend(func(s *Store) worker.Queue { return s }))
}

// wrappedStore is a queue built around a local store, whose store the
// backend must reach to crash it.
type wrappedStore interface {
	localStore() *Store
}

// localBackend opens local stores for the suite, each handed out as wrap
// makes it.
func localBackend(wrap func(*Store) worker.Queue) queuetest.Backend {
	open := func(t *testing.T, path string, maxQueued worker.MaxQueued) worker.Queue {
		s, err := Open(path, maxQueued)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return wrap(s)
	}
	return queuetest.Backend{
		Open: func(t *testing.T, maxQueued worker.MaxQueued) worker.Queue {
			return open(t, filepath.Join(t.TempDir(), "queue.db"), maxQueued)
		},
		Crash: func(t *testing.T, q worker.Queue) worker.Queue {
			old, ok := q.(*Store)
			if w, wrapped := q.(wrappedStore); wrapped {
				old, ok = w.localStore(), true
			}
			if !ok {
				t.Fatalf("crash: %T is not a local store", q)
			}
			// Closing keeps every lease in the file, exactly as a kill -9
			// would; the next Open must recover them.
			old.Close()
			return open(t, old.Path(), old.maxQueued)
		},
	}
}
