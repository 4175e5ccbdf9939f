package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"kiln/api"
	"kiln/kilntype"
)

// purgeCommand deletes finished jobs.
type purgeCommand struct {
	dead, succeeded, cancelled bool
	olderThan                  time.Duration
	queue                      string
	json                       bool
}

func (c *purgeCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	fs.BoolVar(&c.dead, "dead", false, "purge dead jobs")
	fs.BoolVar(&c.succeeded, "succeeded", false, "purge succeeded jobs")
	fs.BoolVar(&c.cancelled, "cancelled", false, "purge cancelled jobs")
	fs.DurationVar(&c.olderThan, "older-than", 0, "only jobs that finished longer ago than this")
	fs.StringVar(&c.queue, "queue", "", "only this queue")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if !c.dead && !c.succeeded && !c.cancelled {
		return errors.New("say what to purge: -dead, -succeeded and/or -cancelled")
	}
	return nil
}

func (c *purgeCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	total := 0
	for state, on := range map[kilntype.State]bool{kilntype.StateDead: c.dead, kilntype.StateSucceeded: c.succeeded, kilntype.StateCancelled: c.cancelled} {
		if !on {
			continue
		}
		n, err := client.Purge(ctx, c.queue, state, c.olderThan)
		if err != nil {
			return err
		}
		total += n
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(api.Count{Count: total})
	}
	fmt.Fprintf(stdout, "%d jobs purged\n", total)
	return nil
}
