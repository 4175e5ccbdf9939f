package local

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"kiln/worker"
)

// Submits racing a Close each get an answer: their change committed, or
// ErrClosed. None may wait for ever (a change queued after the commit
// loop's last drain once did).
func TestStore_CloseAnswersEveryWriter(t *testing.T) {
	t.Parallel()
	for round := range 20 {
		s, err := Open(filepath.Join(t.TempDir(), "queue.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for {
					j := &worker.JobRecord{Queue: "q", Type: "t", Payload: json.RawMessage(`{}`)}
					if _, err := s.Submit(context.Background(), j); err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("submit: %v, want ErrClosed once closed", err)
						}
						return
					}
				}
			}()
		}
		close(start)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		answered := make(chan struct{})
		go func() {
			wg.Wait()
			close(answered)
		}()
		select {
		case <-answered:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: a submit racing Close got no answer within 30 s", round)
		}
	}
}
