package rabbitmq

import (
	"context"
	"testing"
	"time"

	"kiln/worker"
)

// One process leads at a time; when the leader goes, the next one leads
// and reads the value the last one saved.
func TestQueue_Lead(t *testing.T) {
	needNode(t)
	url := node.URL("")
	prefix := randomPrefix()
	a := openQueue(t, url, prefix, nil)
	b := openQueue(t, url, prefix, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type lead struct {
		who   string
		saved uint64
		ok    bool
	}
	leads := make(chan lead, 4)
	follow := func(who string, q *Queue, save uint64) {
		q.Lead(ctx, "test", func(ctx context.Context, st worker.LeadState) {
			v, ok := st.Saved()
			err := st.Save(ctx, save)
			if now, _ := st.Saved(); err != nil || now != max(v, save) {
				t.Errorf("%s: save %d: %v, then saved %d", who, save, err, now)
			}
			leads <- lead{who, v, ok}
			<-ctx.Done()
		})
	}
	go follow("a", a, 5)
	first := <-leads
	if first.who != "a" || first.ok {
		t.Fatalf("first lead: %+v, want a with nothing saved", first)
	}
	go follow("b", b, 9)
	select {
	case l := <-leads:
		t.Fatalf("%s leads while a does", l.who)
	case <-time.After(2 * time.Second): // b must not get the lead while a holds it
	}
	a.Close()
	select {
	case l := <-leads:
		if l.who != "b" || !l.ok || l.saved != 5 {
			t.Fatalf("after a closed: %+v, want b reading 5", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("b did not lead within 30 s of a's close")
	}
}
