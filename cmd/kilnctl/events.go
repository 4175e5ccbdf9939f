package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"kiln/api"
	"kiln/kilntype"
)

// reconnectEvery is how long -follow waits before it reconnects to a
// daemon that went away (a restart), resuming after the last event seen.
const reconnectEvery = time.Second

// eventsCommand prints job events, and with -follow keeps printing them.
type eventsCommand struct {
	follow bool
	since  int64 // -1: not given
	queue  string
	job    string
	state  string
	json   bool
}

func (c *eventsCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.BoolVar(&c.follow, "follow", false, "keep printing new events; reconnects after a daemon restart without missing one")
	fs.Int64Var(&c.since, "since", -1, "start after this event ID (default: the oldest kept, or from now with -follow)")
	fs.StringVar(&c.queue, "queue", "", "only this queue")
	fs.StringVar(&c.job, "job", "", "only this job")
	fs.StringVar(&c.state, "state", "", "only these states, comma-separated (succeeded,dead)")
	fs.BoolVar(&c.json, "json", false, "print one JSON object per event")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if c.state != "" {
		for _, s := range strings.Split(c.state, ",") {
			if !kilntype.State(s).Valid() {
				return fmt.Errorf("-state %q is not one of %v", s, kilntype.States)
			}
		}
	}
	return nil
}

func (c *eventsCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	req := api.EventsRequest{Queue: c.queue, Job: c.job, Follow: c.follow}
	if c.state != "" {
		for _, s := range strings.Split(c.state, ",") {
			req.States = append(req.States, kilntype.State(s))
		}
	}
	switch {
	case c.since > 0:
		req.Since = uint64(c.since)
	case c.since == 0 || !c.follow:
		req.FromStart = true
	}
	enc := json.NewEncoder(stdout)
	print := func(item api.StreamItem) error {
		if item.Gap != nil {
			if c.json {
				return enc.Encode(struct {
					Gap *api.Gap `json:"gap"`
				}{item.Gap})
			}
			_, err := fmt.Fprintf(stdout, "gap: events %d to %d are no longer kept\n", item.Gap.After+1, item.Gap.FirstKept-1)
			return err
		}
		e := item.Event
		// Resume after this one if the stream breaks.
		req.Since, req.FromStart = e.ID, false
		if c.json {
			return enc.Encode(e)
		}
		from := string(e.From)
		if from == "" {
			from = "new"
		}
		line := fmt.Sprintf("%d  %s  %s  %s  %s  %s -> %s  attempt %d", e.ID, e.Time.Local().Format("2006-01-02 15:04:05.000"), e.Queue, e.Job, e.Type, from, e.State, e.Attempt)
		if e.Error != "" {
			line += "  " + e.Error
		}
		_, err := fmt.Fprintln(stdout, line)
		return err
	}
	for {
		err := client.Events(ctx, req, print)
		if !c.follow || ctx.Err() != nil {
			if ctx.Err() != nil {
				return nil // interrupted by the user: not a failure
			}
			return err
		}
		var reqErr *api.RequestError
		if errors.As(err, &reqErr) {
			return err // the daemon refused the request: retrying will not help
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "kilnctl events: %v; reconnecting\n", err)
		}
		select {
		case <-time.After(reconnectEvery):
		case <-ctx.Done():
			return nil
		}
	}
}
