package rabbitmq

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"kiln/worker"
)

// attemptTally counts what an AttemptObserver is told, per queue.
type attemptTally struct {
	mu      sync.Mutex
	began   map[string]int
	ended   map[string]map[worker.Outcome]int
	ranKnow map[string]int // ends with a run time
	waits   []time.Duration
}

func newAttemptTally() *attemptTally {
	return &attemptTally{began: map[string]int{}, ended: map[string]map[worker.Outcome]int{}, ranKnow: map[string]int{}}
}

func (a *attemptTally) AttemptBegan(queue string, _ time.Time, waited time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.began[queue]++
	a.waits = append(a.waits, waited)
}

func (a *attemptTally) AttemptEnded(queue string, _ time.Time, outcome worker.Outcome, ran time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended[queue] == nil {
		a.ended[queue] = map[worker.Outcome]int{}
	}
	a.ended[queue][outcome]++
	if ran >= 0 {
		a.ranKnow[queue]++
	}
}

// tallyJSON is what a keeper answers for its charts in this test.
type tallyJSON struct {
	Began int `json:"began"`
	Done  int `json:"done"`
	Dead  int `json:"dead"`
}

func (a *attemptTally) summary(queue string) tallyJSON {
	a.mu.Lock()
	defer a.mu.Unlock()
	return tallyJSON{Began: a.began[queue], Done: a.ended[queue][worker.OutcomeSucceeded], Dead: a.ended[queue][worker.OutcomeDead]}
}

// Two hosts that keep records run the jobs between them, and each hears
// of every attempt of both: the fleet's totals, with run times. A host
// that keeps no records hears of none and is sent a keeper's charts.
func TestAttempts_EveryKeeperHearsOfTheFleet(t *testing.T) {
	needNode(t)
	url, prefix := node.URL(""), randomPrefix()
	tallies := map[string]*attemptTally{"a": newAttemptTally(), "b": newAttemptTally()}
	open := func(name string) *Queue {
		tally := tallies[name]
		return openQueueWith(t, url, Options{URLs: []string{url}, Prefix: prefix, Queues: testQueues, Log: testLog(t),
			RecordsFile: filepath.Join(t.TempDir(), "records.db"), Attempts: tally,
			Charts: func(span string) (json.RawMessage, error) { return json.Marshal(tally.summary("q")) }})
	}
	hosts := map[string]*Queue{"a": open("a"), "b": open("b")}
	lightTally := newAttemptTally()
	// The light host runs nothing here: it consumes no queue until it
	// leases from one, and it does not.
	light := openQueueWith(t, url, Options{URLs: []string{url}, Prefix: prefix, Queues: func() map[string]worker.QueueConfig { return nil }, Log: testLog(t),
		RecordsFile: filepath.Join(t.TempDir(), "records.db"), NoRecords: true, Attempts: lightTally})
	if !hosts["a"].KeepsCharts() || light.KeepsCharts() {
		t.Fatalf("KeepsCharts: keeper %v, light host %v; want true and false", hosts["a"].KeepsCharts(), light.KeepsCharts())
	}
	ctx := context.Background()

	const n = 40
	var jobs []*worker.JobRecord
	for range n {
		jobs = append(jobs, &worker.JobRecord{Queue: "q", Type: "test", Payload: json.RawMessage(`{}`)})
	}
	if _, err := hosts["a"].Submit(ctx, jobs...); err != nil {
		t.Fatal(err)
	}
	// Each host runs what it leases; b fails its every third job for good.
	ranOn := map[string]int{}
	var done, dead int
	deadline := time.Now().Add(60 * time.Second)
	for done+dead < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs ended within 60 s", done+dead, n)
		}
		for _, name := range []string{"a", "b"} {
			q := hosts[name]
			got, _, err := q.Lease(ctx, "q", 3, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range got {
				ranOn[name]++
				if name == "b" && ranOn[name]%3 == 0 {
					if err := q.Fail(ctx, j.ID, "broken on purpose", time.Time{}); err != nil {
						t.Fatal(err)
					}
					dead++
					continue
				}
				if err := q.Complete(ctx, j.ID, nil); err != nil {
					t.Fatal(err)
				}
				done++
			}
		}
	}
	if ranOn["a"] == 0 || ranOn["b"] == 0 {
		t.Fatalf("jobs ran %v: want both hosts to run some", ranOn)
	}
	want := tallyJSON{Began: n, Done: done, Dead: dead}
	for name, tally := range tallies {
		pollTally(t, name, tally, want)
		tally.mu.Lock()
		ran := tally.ranKnow["q"]
		tally.mu.Unlock()
		if ran != n {
			t.Errorf("host %s knows the run time of %d attempts; want all %d", name, ran, n)
		}
	}
	if got := lightTally.summary("q"); got != (tallyJSON{}) {
		t.Errorf("the light host heard of attempts %+v; want none (it reads no job events)", got)
	}
	b, err := light.FleetCharts(ctx, "hour")
	if err != nil {
		t.Fatal(err)
	}
	var asked tallyJSON
	if err := json.Unmarshal(b, &asked); err != nil || asked != want {
		t.Fatalf("the light host was sent %s (%v); want a keeper's %+v", b, err, want)
	}
	t.Logf("jobs run per host %v; every keeper counts %+v", ranOn, want)
}

func pollTally(t *testing.T, name string, tally *attemptTally, want tallyJSON) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := tally.summary("q")
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("host %s counts %+v; want the fleet's %+v", name, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
