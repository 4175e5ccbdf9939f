package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"kiln/api"
)

// pauseCommand pauses or resumes a queue: a paused queue starts no jobs;
// running ones finish and submits are still accepted.
type pauseCommand struct {
	resume bool
	queue  string
}

func (c *pauseCommand) name() string {
	if c.resume {
		return "resume"
	}
	return "pause"
}

func (c *pauseCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet(c.name(), flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: kilnctl " + c.name() + " QUEUE")
	}
	c.queue = fs.Arg(0)
	return nil
}

func (c *pauseCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	if c.resume {
		if err := client.Resume(ctx, c.queue); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "queue %s resumed\n", c.queue)
		return nil
	}
	if err := client.Pause(ctx, c.queue); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "queue %s paused\n", c.queue)
	return nil
}
