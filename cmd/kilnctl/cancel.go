package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"kiln/api"
)

// cancelCommand cancels a job that has not finished.
type cancelCommand struct {
	id   string
	json bool
}

func (c *cancelCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("cancel", flag.ContinueOnError)
	fs.BoolVar(&c.json, "json", false, "print the job as JSON")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New("usage: kilnctl cancel ID")
	}
	c.id = rest[0]
	return nil
}

func (c *cancelCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	j, err := client.Cancel(ctx, c.id)
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(j)
	}
	if j.CancelRequested && !j.State.Terminal() {
		fmt.Fprintf(stdout, "%s is running: stopping it; it ends cancelled\n", j.ID)
		return nil
	}
	fmt.Fprintf(stdout, "%s %s\n", j.ID, j.State)
	return nil
}
