package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"

	"kiln/api"
	"kiln/kilntype"
)

const (
	// submitWindow bounds the pictures sent and not yet answered.
	submitWindow = 256
	// waiters is how many jobs -wait follows at once, each with a long
	// poll that the daemon answers when the job ends.
	waiters = 32
)

// submitted is one picture's line of -json output before -wait: the job
// it became, or why it was refused.
type submitted struct {
	Input     string         `json:"input"`
	ID        string         `json:"id,omitempty"`
	Queue     string         `json:"queue,omitempty"`
	State     kilntype.State `json:"state,omitempty"`
	Duplicate bool           `json:"duplicate,omitempty"`
	Error     string         `json:"error,omitempty"`
	Status    int            `json:"status,omitempty"`
}

// accepted is a picture the daemon took, in the order of the arguments.
type accepted struct {
	index int
	id    string
}

// submitFiles sends every picture over one streaming submit, then with
// -wait follows the jobs to their end, and sums up.
func (c *submitCommand) submitFiles(ctx context.Context, client *api.Client, stdout io.Writer) error {
	inputs, err := expandInputs(c.files, c.stdin)
	if err != nil {
		return err
	}
	if len(inputs) == 0 {
		return errors.New("no pictures found in the given paths")
	}
	many := len(inputs) > 1
	sub, err := client.NewSubmitter(ctx, submitWindow)
	if err != nil {
		return err
	}
	go func() {
		defer sub.Close()
		for i, f := range inputs {
			if sub.Submit(ctx, strconv.Itoa(i), c.request(f)) != nil {
				return // the stream broke: the answers say so
			}
		}
	}()

	start := time.Now()
	bar := startProgress(c.stderr, "submitting", len(inputs))
	var (
		jobs    []accepted
		refused []string
		lost    error
		n       int
	)
	for a := range sub.Acks() {
		n++
		i, _ := strconv.Atoi(a.Tag)
		f := inputs[i]
		var reqErr *api.RequestError
		switch {
		case a.Err == nil:
			jobs = append(jobs, accepted{i, a.ID})
			if !c.wait {
				c.printAccepted(stdout, f, a, many)
			}
		case errors.As(a.Err, &reqErr):
			refused = append(refused, fmt.Sprintf("%s: %s", f, reqErr.Message))
			if c.json {
				_ = json.NewEncoder(stdout).Encode(submitted{Input: f, Error: reqErr.Message, Status: reqErr.Status})
			}
			if bar == nil {
				fmt.Fprintf(c.stderr, "kilnctl submit: %s: %s\n", f, reqErr.Message)
			}
		default:
			// The stream broke: whether this one was stored is unknown.
			lost = a.Err
		}
		bar.set(n, refusedNote(len(refused)))
	}
	bar.finish()
	submitTime := time.Since(start)
	if lost != nil {
		return fmt.Errorf("%d of %d pictures answered before the stream broke: %w", len(jobs)+len(refused), len(inputs), lost)
	}

	var outcome *waitOutcome
	if c.wait {
		sort.Slice(jobs, func(a, b int) bool { return jobs[a].index < jobs[b].index })
		outcome, err = c.waitAll(ctx, client, jobs, stdout)
		if err != nil {
			return err
		}
	}
	if many || bar != nil {
		c.summary(len(inputs), len(jobs), refused, submitTime, outcome, bar != nil)
	}
	if len(refused) > 0 || (outcome != nil && outcome.succeeded < len(jobs)) {
		return errReported
	}
	return nil
}

func refusedNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d refused", n)
}

func (c *submitCommand) printAccepted(w io.Writer, file string, a api.Ack, many bool) {
	switch {
	case c.json:
		_ = json.NewEncoder(w).Encode(submitted{Input: file, ID: a.ID, Queue: a.Queue, State: a.State, Duplicate: a.Duplicate})
	case many:
		fmt.Fprintf(w, "%s\t%s\n", a.ID, file)
	default:
		fmt.Fprintln(w, a.ID)
	}
}

// waitOutcome is how the followed jobs ended.
type waitOutcome struct {
	succeeded, dead, other int
	deadReasons            []string
	elapsed                time.Duration
}

// waitAll follows every job to its end, printing each as it ends.
func (c *submitCommand) waitAll(ctx context.Context, client *api.Client, jobs []accepted, stdout io.Writer) (*waitOutcome, error) {
	start := time.Now()
	deadline := start.Add(c.waitFor)
	bar := startProgress(c.stderr, "running", len(jobs))
	defer bar.finish()
	out := &waitOutcome{}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	next := make(chan accepted)
	for range min(waiters, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range next {
				j, err := waitJob(ctx, client, a.id, deadline)
				mu.Lock()
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = err
					}
				case j.State == kilntype.StateSucceeded:
					out.succeeded++
				case j.State == kilntype.StateDead:
					out.dead++
					out.deadReasons = append(out.deadReasons, fmt.Sprintf("%s (job %s): %s", inputOf(j), j.ID, j.LastError))
				default:
					out.other++
				}
				if err == nil {
					c.print(stdout, &api.Submitted{Job: *j})
				}
				bar.set(out.succeeded+out.dead+out.other, fmt.Sprintf("%d ok, %d dead", out.succeeded, out.dead))
				mu.Unlock()
			}
		}()
	}
	for _, a := range jobs {
		next <- a
	}
	close(next)
	wg.Wait()
	out.elapsed = time.Since(start)
	return out, firstErr
}

// inputOf is the picture a job was made for, from its payload.
func inputOf(j *api.Job) string {
	var p struct {
		Input string `json:"input"`
	}
	_ = json.Unmarshal(j.Payload, &p)
	return p.Input
}

// summary tells on stderr what became of the pictures.
func (c *submitCommand) summary(total, accepted int, refused []string, submitTime time.Duration, w *waitOutcome, shownBar bool) {
	fmt.Fprintf(c.stderr, "submitted %d of %d pictures in %s (%.0f/s)", accepted, total, submitTime.Round(time.Millisecond), float64(total)/submitTime.Seconds())
	if len(refused) > 0 {
		fmt.Fprintf(c.stderr, "; %d refused", len(refused))
	}
	fmt.Fprintln(c.stderr)
	if shownBar {
		// Without a bar each refusal was reported as it came.
		for _, r := range refused {
			fmt.Fprintf(c.stderr, "  refused  %s\n", r)
		}
	}
	if w == nil {
		return
	}
	fmt.Fprintf(c.stderr, "succeeded %d, dead %d", w.succeeded, w.dead)
	if w.other > 0 {
		fmt.Fprintf(c.stderr, ", cancelled %d", w.other)
	}
	// Jobs run while later pictures are still being sent: the rate counts
	// from the first submit.
	all := submitTime + w.elapsed
	fmt.Fprintf(c.stderr, ", all done %s after the first submit (%.0f jobs/s)\n", all.Round(time.Millisecond), float64(accepted)/all.Seconds())
	sort.Strings(w.deadReasons)
	for _, r := range w.deadReasons {
		fmt.Fprintf(c.stderr, "  dead     %s\n", r)
	}
}
