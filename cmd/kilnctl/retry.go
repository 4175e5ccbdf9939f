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

// retryCommand puts a dead job, or every dead job, back in its queue.
type retryCommand struct {
	id    string
	dead  bool
	queue string
	json  bool
}

func (c *retryCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("retry", flag.ContinueOnError)
	fs.BoolVar(&c.dead, "dead", false, "retry every dead job")
	fs.StringVar(&c.queue, "queue", "", "with -dead: only this queue")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	switch {
	case c.dead && len(rest) == 0:
	case !c.dead && len(rest) == 1:
		c.id = rest[0]
	default:
		return errors.New("usage: kilnctl retry ID | kilnctl retry -dead [-queue Q]")
	}
	return nil
}

func (c *retryCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	if c.dead {
		n, err := client.RetryDead(ctx, c.queue)
		if err != nil {
			return err
		}
		if c.json {
			return json.NewEncoder(stdout).Encode(api.Count{Count: n})
		}
		fmt.Fprintf(stdout, "%d dead jobs queued again\n", n)
		return nil
	}
	j, err := client.Retry(ctx, c.id)
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(j)
	}
	fmt.Fprintf(stdout, "%s %s\n", j.ID, j.State)
	return nil
}
