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
	// The daemon answers a page at a time: follow the pages up to -limit,
	// printing JSON as each arrives.
	var jobs []*api.Job
	enc := json.NewEncoder(stdout)
	after := ""
	for n := 0; ; {
		// -limit 0 is one page of the daemon's default size.
		page, next, err := client.ListPage(ctx, c.queue, kilntype.State(c.state), after, max(c.limit-n, 0))
		if err != nil {
			return err
		}
		n += len(page)
		if c.json {
			for _, j := range page {
				if err := enc.Encode(j); err != nil {
					return err
				}
			}
		} else {
			jobs = append(jobs, page...)
		}
		if next == "" || len(page) == 0 || n >= c.limit {
			break
		}
		after = next
	}
	if c.json {
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tQUEUE\tSTATE\tATTEMPTS\tCREATED\tLAST ERROR")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", j.ID, j.Queue, j.State, j.Attempts, j.MaxAttempts, j.CreatedAt.Local().Format(time.DateTime), j.LastError)
	}
	return tw.Flush()
}
