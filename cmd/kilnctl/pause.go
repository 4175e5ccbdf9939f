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

// pauseCommand pauses or resumes a queue: a paused queue starts no jobs;
// running ones finish and submits are still accepted.
type pauseCommand struct {
	resume bool
	queue  string
	json   bool
}

// queueState is what pause and resume print with -json.
type queueState struct {
	Queue  string `json:"queue"`
	Paused bool   `json:"paused"`
}

func (c *pauseCommand) name() string {
	if c.resume {
		return "resume"
	}
	return "pause"
}

func (c *pauseCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet(c.name(), flag.ContinueOnError)
	fs.BoolVar(&c.json, "json", false, `print {"queue": ..., "paused": ...}`)
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New("expected one QUEUE")
	}
	c.queue = rest[0]
	return nil
}

func (c *pauseCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	var err error
	if c.resume {
		err = client.Resume(ctx, c.queue)
	} else {
		err = client.Pause(ctx, c.queue)
	}
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(queueState{Queue: c.queue, Paused: !c.resume})
	}
	fmt.Fprintf(stdout, "queue %s %sd\n", c.queue, c.name())
	return nil
}
