package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"kiln/api"
	"kiln/kilntype"
)

// jobsCommand lists jobs.
type jobsCommand struct {
	queue string
	state string
	limit int
	json  bool
}

func (c *jobsCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("jobs", flag.ContinueOnError)
	fs.StringVar(&c.queue, "queue", "", "only this queue")
	fs.StringVar(&c.state, "state", "", "only this state (queued, running, dead, ...)")
	fs.IntVar(&c.limit, "limit", 50, "at most this many")
	fs.BoolVar(&c.json, "json", false, "print one JSON object per job")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if c.state != "" && !kilntype.State(c.state).Valid() {
		return fmt.Errorf("-state %q is not one of %v", c.state, kilntype.States)
	}
	return nil
}

func (c *jobsCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	jobs, err := client.List(ctx, c.queue, kilntype.State(c.state), c.limit)
	if err != nil {
		return err
	}
	if c.json {
		enc := json.NewEncoder(stdout)
		for _, j := range jobs {
			if err := enc.Encode(j); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tQUEUE\tSTATE\tATTEMPTS\tCREATED\tLAST ERROR")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", j.ID, j.Queue, j.State, j.Attempts, j.MaxAttempts, j.CreatedAt.Local().Format(time.DateTime), j.LastError)
	}
	return tw.Flush()
}
