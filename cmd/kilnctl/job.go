package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"kiln/api"
	"kiln/kilntype"
	"kiln/worker/image/imageapi"
)

// jobCommand shows one job.
type jobCommand struct {
	id   string
	json bool
}

func (c *jobCommand) ParseFlags(args []string) error {
	return parseJobArgs("job", args, &c.id, &c.json)
}

func (c *jobCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	j, err := client.Job(ctx, c.id, 0)
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(j)
	}
	printJob(stdout, j)
	printChain(ctx, client, stdout, j)
	return nil
}

// printJob shows a job for a person: identity, state, and, for image jobs,
// where each output went.
func printJob(w io.Writer, j *api.Job) {
	fmt.Fprintf(w, "job       %s\n", j.ID)
	fmt.Fprintf(w, "state     %s\n", j.State)
	fmt.Fprintf(w, "queue     %s (%s)\n", j.Queue, j.Type)
	fmt.Fprintf(w, "attempts  %d of %d\n", j.Attempts, j.MaxAttempts)
	fmt.Fprintf(w, "created   %s\n", j.CreatedAt.Local().Format(time.RFC3339))
	var payload bytes.Buffer
	if json.Compact(&payload, j.Payload) != nil {
		payload.Write(j.Payload)
	}
	fmt.Fprintf(w, "payload   %s\n", payload.String())
	if j.Priority != 0 {
		fmt.Fprintf(w, "priority  %d\n", j.Priority)
	}
	if j.State == kilntype.StateScheduled || j.State == kilntype.StateRetrying {
		fmt.Fprintf(w, "run at    %s\n", j.RunAt.Local().Format(time.RFC3339))
	}
	if j.UniqueKey != "" {
		fmt.Fprintf(w, "unique    %s\n", j.UniqueKey)
	}
	if j.Progress != nil {
		fmt.Fprintf(w, "progress  %s at %s\n", j.Progress, j.Progress.At.Local().Format(time.TimeOnly))
	}
	if !j.FinishedAt.IsZero() {
		fmt.Fprintf(w, "finished  %s\n", j.FinishedAt.Local().Format(time.RFC3339))
	}
	for _, e := range j.Errors {
		fmt.Fprintf(w, "error     attempt %d at %s: %s\n", e.Attempt, e.At.Local().Format(time.TimeOnly), e.Error)
	}
	if len(j.Result) == 0 {
		return
	}
	if j.Type != imageapi.JobType {
		// Another kind's result is its own JSON: shown as it is, on one
		// line.
		var result bytes.Buffer
		if json.Compact(&result, j.Result) != nil {
			result.Write(j.Result)
		}
		fmt.Fprintf(w, "result    %s\n", result.String())
		return
	}
	if result, err := imageapi.ParseResult(j.Result); err == nil && len(result.Outputs) > 0 {
		fmt.Fprintf(w, "outputs   (%d ms)\n", result.ElapsedMS)
		for _, o := range result.Outputs {
			fmt.Fprintf(w, "  %-10s %4dx%-4d %8d B  %s\n", o.Variant, o.Width, o.Height, o.Bytes, o.Path)
		}
	}
}
