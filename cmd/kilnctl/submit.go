package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"kiln/api"
	"kiln/worker"
)

// submitCommand queues pictures for a pipeline.
type submitCommand struct {
	pipeline    string
	wait        bool
	waitFor     time.Duration
	maxAttempts int
	json        bool
	files       []string
	stderr      io.Writer
}

func (c *submitCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.StringVar(&c.pipeline, "pipeline", "", "pipeline to run (required)")
	fs.BoolVar(&c.wait, "wait", false, "wait for the jobs to finish and print their outputs")
	fs.DurationVar(&c.waitFor, "timeout", 10*time.Minute, "with -wait: how long to wait")
	fs.IntVar(&c.maxAttempts, "max-attempts", 0, "attempts before the job is dead (default: the queue's)")
	fs.BoolVar(&c.json, "json", false, "print one JSON object per job")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if c.pipeline == "" {
		return errors.New("-pipeline is required")
	}
	if len(files) == 0 {
		return errors.New("no FILE given")
	}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return err
		}
		c.files = append(c.files, abs)
	}
	return nil
}

func (c *submitCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	var jobs []*api.Job
	failed := false
	for _, f := range c.files {
		j, err := client.Submit(ctx, api.SubmitRequest{Pipeline: c.pipeline, Input: f, MaxAttempts: c.maxAttempts})
		if err != nil {
			var reqErr *api.RequestError
			if !errors.As(err, &reqErr) {
				return err // the daemon is unreachable: no use trying the rest
			}
			fmt.Fprintf(c.stderr, "kilnctl submit: %s: %v\n", f, err)
			failed = true
			continue
		}
		jobs = append(jobs, j)
		if !c.wait {
			c.print(stdout, j)
		}
	}
	if c.wait {
		deadline := time.Now().Add(c.waitFor)
		for _, j := range jobs {
			final, err := waitJob(ctx, client, j.ID, deadline)
			if err != nil {
				return err
			}
			c.print(stdout, final)
			if final.State != worker.StateSucceeded {
				failed = true
			}
		}
	}
	if failed {
		return errReported
	}
	return nil
}

func (c *submitCommand) print(w io.Writer, j *api.Job) {
	switch {
	case c.json:
		_ = json.NewEncoder(w).Encode(j)
	case c.wait:
		printJob(w, j)
	default:
		fmt.Fprintln(w, j.ID)
	}
}

// waitJob long-polls the daemon until the job has finished or the deadline
// has passed.
func waitJob(ctx context.Context, client *api.Client, id string, deadline time.Time) (*api.Job, error) {
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("job %s: not finished after waiting", id)
		}
		j, err := client.Job(ctx, id, min(left, time.Minute))
		if err != nil {
			return nil, err
		}
		if j.State.Terminal() {
			return j, nil
		}
	}
}
