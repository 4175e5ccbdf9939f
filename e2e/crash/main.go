// Command crash is kiln's crash test: it runs the real kilnd, feeds it jobs
// from concurrent producers and chains of follow-up steps, and SIGKILLs it
// at random moments, cycle after cycle. Then it checks that every submit
// kilnd acknowledged has completed, every chain with all its steps, that a
// job ran more than once only when a kill interrupted it, that no step of
// a chain ran as two jobs, and that the store opened cleanly at every
// start.
//
// usage: go run ./e2e/crash -bin bin -cycles 100 -chains 50
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"kiln/api"
	"kiln/e2e/instance"
	"kiln/worker"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding kilnd")
	cycles := flag.Int("cycles", 100, "kill cycles")
	producers := flag.Int("producers", 8, "concurrent submitters")
	keep := flag.Bool("keep", false, "keep the state directory")
	chains := flag.Int("chains", 50, "chains of 3 noop steps, submitted one per cycle from the first cycle on")
	flag.Parse()

	dir, err := os.MkdirTemp("", "kiln-crash-")
	if err != nil {
		fail(err)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	kiln, err := instance.Prepare(dir, `[queues.crash]
concurrency = 16
max_attempts = 1000
backoff_base = "1ms"
backoff_max = "5ms"
keep_succeeded = "0s"

[queues.chains]
concurrency = 4
max_attempts = 1000
backoff_base = "1ms"
backoff_max = "5ms"
`)
	if err != nil {
		fail(err)
	}
	kilnd := filepath.Join(*bin, "kilnd")
	client := kiln.Client()
	var (
		mu    sync.Mutex
		acked []string
		roots []string // first steps of the acknowledged chains
	)
	passed, failed := 0, 0
	for c := 1; c <= *cycles; c++ {
		var stderr strings.Builder
		if err := kiln.Start(kilnd, &stderr); err != nil {
			failed++
			fmt.Printf("cycle %d: FAIL: %v: %s\n", c, err, stderr.String())
			continue
		}
		// Producers submit until the kill; only 201 answers count as
		// acknowledged.
		ctx, stop := context.WithCancel(context.Background())
		if len(roots) < *chains {
			if id := submitChain(ctx, client); id != "" {
				roots = append(roots, id)
			}
		}
		var wg sync.WaitGroup
		for p := 0; p < *producers; p++ {
			wg.Add(1)
			go func(p int) {
				defer wg.Done()
				if p%4 == 3 {
					// A streaming producer: many jobs unanswered at once,
					// only those answered with an ID count.
					ids := streamUntilKilled(ctx, client, p)
					mu.Lock()
					acked = append(acked, ids...)
					mu.Unlock()
					return
				}
				for i := 0; ctx.Err() == nil; i++ {
					var ids []string
					if (p+i)%4 == 0 {
						jobs, err := client.SubmitBatch(ctx, []api.SubmitRequest{{Type: worker.NoopType, Queue: "crash"}, {Type: worker.NoopType, Queue: "crash"}, {Type: worker.NoopType, Queue: "crash"}})
						if err != nil {
							return
						}
						for _, j := range jobs {
							ids = append(ids, j.ID)
						}
					} else {
						j, err := client.Submit(ctx, api.SubmitRequest{Type: worker.NoopType, Queue: "crash"})
						if err != nil {
							return
						}
						ids = append(ids, j.ID)
					}
					mu.Lock()
					acked = append(acked, ids...)
					mu.Unlock()
				}
			}(p)
		}
		time.Sleep(time.Duration(20+rand.IntN(200)) * time.Millisecond) // a random moment to kill at
		kiln.Signal(os.Kill)
		kiln.Wait()
		stop()
		wg.Wait()
		passed++
		if c%10 == 0 {
			mu.Lock()
			fmt.Printf("cycle %d: %d jobs acknowledged so far\n", c, len(acked))
			mu.Unlock()
		}
	}

	// A last, clean life: everything acknowledged must complete.
	if err := kiln.Start(kilnd, os.Stderr); err != nil {
		fail(fmt.Errorf("final start: %w", err))
	}
	defer func() {
		kiln.Signal(os.Interrupt)
		kiln.Wait()
	}()
	ctx := context.Background()
	reruns, problems := 0, 0
	for _, id := range acked {
		j, err := waitFinished(ctx, client, id)
		if err != nil {
			problems++
			fmt.Printf("acknowledged job %s: %v\n", id, err)
			continue
		}
		if j.State != worker.StateSucceeded {
			problems++
			fmt.Printf("acknowledged job %s ended %s: %s\n", id, j.State, j.LastError)
			continue
		}
		interrupted := interruptions(j)
		if j.Attempts-1 != interrupted {
			problems++
			fmt.Printf("job %s ran %d times but only %d runs were cut short by a kill: %+v\n", id, j.Attempts, interrupted, j.Errors)
		}
		if j.Attempts > 1 {
			reruns++
		}
	}
	// At most the jobs running at each kill can have been interrupted.
	if limit := *cycles * 16; reruns > limit {
		problems++
		fmt.Printf("%d jobs ran again, more than the %d that could have been running at the kills\n", reruns, limit)
	}
	if problems > 0 {
		failed++
	} else {
		passed++
	}
	fmt.Printf("crash test: %d cycles of kill -9; %d acknowledged jobs, all checked; %d ran again because a kill interrupted them; %d problems\n", *cycles, len(acked), reruns, problems)
	stepReruns, chainProblems := checkChains(ctx, client, roots)
	for _, p := range chainProblems {
		fmt.Println(p)
	}
	if len(roots) < *chains {
		chainProblems = append(chainProblems, "too few chains")
		fmt.Printf("only %d of %d chains were acknowledged\n", len(roots), *chains)
	}
	if len(chainProblems) > 0 {
		failed++
	} else {
		passed++
	}
	fmt.Printf("chains: %d acknowledged chains of %d steps across the kills, all checked; %d steps ran again because a kill interrupted them; %d problems\n", len(roots), chainSteps, stepReruns, len(chainProblems))
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

// streamUntilKilled submits over one streaming submit until the stream
// breaks (kilnd was killed) or ctx is done, and returns the IDs of the jobs
// kilnd answered.
func streamUntilKilled(ctx context.Context, client *api.Client, p int) []string {
	s, err := client.NewSubmitter(ctx, 64)
	if err != nil {
		return nil
	}
	go func() {
		defer s.Close()
		for i := 0; ctx.Err() == nil; i++ {
			if err := s.Submit(ctx, fmt.Sprintf("%d-%d", p, i), api.SubmitRequest{Type: worker.NoopType, Queue: "crash"}); err != nil {
				return
			}
		}
	}()
	var ids []string
	for a := range s.Acks() {
		if a.Err == nil && a.ID != "" {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

func waitFinished(ctx context.Context, c *api.Client, id string) (*api.Job, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		j, err := c.Job(ctx, id, 30*time.Second)
		if err != nil {
			return nil, err
		}
		if j.State.Terminal() {
			return j, nil
		}
	}
	return nil, fmt.Errorf("not finished after 2 minutes")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "crash:", err)
	os.Exit(1)
}
