package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kiln/api"
	"kiln/kilntype"
	"kiln/worker/image/imageapi"
)

// submitCommand queues pictures for a pipeline, or one job of any type.
type submitCommand struct {
	pipeline    string
	jobType     string
	payload     string
	queue       string
	priority    int
	at          string
	in          string
	uniqueKey   string
	maxAttempts int
	timeout     string
	wait        bool
	waitFor     time.Duration
	json        bool
	files       []string
	stdin       io.Reader
	stderr      io.Writer
}

func (c *submitCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.StringVar(&c.pipeline, "pipeline", "", "pipeline to run on each FILE")
	fs.StringVar(&c.jobType, "type", "", "without -pipeline: the job type")
	fs.StringVar(&c.payload, "payload", "", "with -type: the JSON payload (at most 64 KiB), or @FILE to read it from FILE (@- from stdin)")
	fs.StringVar(&c.queue, "queue", "", "queue (default: the pipeline's)")
	fs.IntVar(&c.priority, "priority", 0, "0..1000; higher runs first")
	fs.StringVar(&c.at, "at", "", "run not before this RFC 3339 time")
	fs.StringVar(&c.in, "in", "", "run after this delay, e.g. 10m")
	fs.StringVar(&c.uniqueKey, "unique-key", "", "if an unfinished job has this key, return it instead of adding one")
	fs.StringVar(&c.timeout, "timeout-per-attempt", "", "how long one attempt may run (default: the queue's)")
	fs.BoolVar(&c.wait, "wait", false, "wait for the jobs to finish and print their outputs")
	fs.DurationVar(&c.waitFor, "wait-timeout", 10*time.Minute, "with -wait: how long to wait")
	fs.IntVar(&c.maxAttempts, "max-attempts", 0, "attempts before the job is dead (default: the queue's)")
	fs.BoolVar(&c.json, "json", false, "print one JSON object per job")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if name, ok := strings.CutPrefix(c.payload, "@"); ok {
		if c.payload, err = c.readPayload(name); err != nil {
			return err
		}
	}
	switch {
	case c.pipeline == "" && c.jobType == "":
		return errors.New("-pipeline is required (or -type for a job that is not a picture)")
	case c.pipeline != "" && len(files) == 0:
		return errors.New("no FILE given")
	case c.pipeline == "" && len(files) > 0:
		return errors.New("FILE arguments go with -pipeline")
	case c.payload != "" && !json.Valid([]byte(c.payload)):
		return errors.New("-payload is not valid JSON")
	}
	for _, f := range files {
		if f == "-" {
			c.files = append(c.files, f) // paths come on stdin
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return err
		}
		c.files = append(c.files, abs)
	}
	return nil
}

// readPayload reads -payload @FILE: the file's bytes, or stdin's for "-".
// A payload over the limit is refused here rather than sent.
func (c *submitCommand) readPayload(name string) (string, error) {
	var r io.Reader = c.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return "", fmt.Errorf("-payload @%s: %w", name, errors.Unwrap(err))
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxPayload+1))
	if err != nil {
		return "", fmt.Errorf("-payload @%s: %w", name, err)
	}
	if len(b) > maxPayload {
		return "", fmt.Errorf("-payload @%s: more than 64 KiB", name)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "", fmt.Errorf("-payload @%s: is empty", name)
	}
	return string(b), nil
}

// maxPayload is the daemon's bound on a payload.
const maxPayload = 64 << 10

func (c *submitCommand) request(input string) api.SubmitRequest {
	r := api.SubmitRequest{Type: c.jobType}
	if c.payload != "" {
		r.Payload = json.RawMessage(c.payload)
	}
	if c.pipeline != "" {
		r = imageapi.Request(c.pipeline, input)
	}
	r.Queue, r.Priority, r.RunAt, r.RunIn = c.queue, c.priority, c.at, c.in
	r.UniqueKey, r.MaxAttempts, r.Timeout = c.uniqueKey, c.maxAttempts, c.timeout
	return r
}

func (c *submitCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	if c.pipeline != "" {
		return c.submitFiles(ctx, client, stdout)
	}
	j, err := client.Submit(ctx, c.request(""))
	if err != nil {
		var reqErr *api.RequestError
		if errors.As(err, &reqErr) {
			fmt.Fprintf(c.stderr, "kilnctl submit: %v\n", err)
			return errReported
		}
		return err
	}
	if !c.wait {
		c.print(stdout, j)
		return nil
	}
	final, err := waitJob(ctx, client, j.ID, time.Now().Add(c.waitFor))
	if err != nil {
		return err
	}
	c.print(stdout, &api.Submitted{Job: *final})
	if final.State != kilntype.StateSucceeded {
		return errReported
	}
	return nil
}

func (c *submitCommand) print(w io.Writer, j *api.Submitted) {
	switch {
	case c.json:
		_ = json.NewEncoder(w).Encode(j)
	case c.wait:
		printJob(w, &j.Job)
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
