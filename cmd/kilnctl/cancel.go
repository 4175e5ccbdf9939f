package main

import (
	"context"
	"encoding/json"
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
	return parseJobArgs("cancel", args, &c.id, &c.json)
}

func (c *cancelCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	j, err := client.Cancel(ctx, c.id)
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(j)
	}
	if j.Stopping {
		fmt.Fprintf(stdout, "%s is running: stopping it; it ends cancelled\n", j.ID)
		return nil
	}
	fmt.Fprintf(stdout, "%s %s\n", j.ID, j.State)
	return nil
}
