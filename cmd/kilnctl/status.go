package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"kiln/api"
	"kiln/kilntype"
)

// statusCommand prints the daemon's queues: counts by state, rates and the
// age of the oldest waiting job.
type statusCommand struct {
	json bool
}

func (c *statusCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.BoolVar(&c.json, "json", false, "print the status as JSON")
	return parseNoArgs(fs, args)
}

func (c *statusCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	s, err := client.Status(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(s)
	}
	fmt.Fprintf(stdout, "kilnd %s, pid %d, up %s, config %s\n", s.Version, s.PID, time.Since(s.StartedAt).Round(time.Second), s.Config)
	fmt.Fprintf(stdout, "running %d; since start: %d succeeded, %d failed attempts; %d purged by retention\n", s.Running, s.Succeeded, s.Failed, s.Purged)
	if s.Broker != "" {
		fmt.Fprintln(stdout, s.Broker)
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "QUEUE\t")
	for _, st := range kilntype.States {
		fmt.Fprintf(tw, "%s\t", st)
	}
	fmt.Fprint(tw, "ok/s\tfail/s\toldest\t")
	if s.Broker != "" {
		fmt.Fprint(tw, "broker ready\t")
	}
	fmt.Fprintln(tw)
	names := make([]string, 0, len(s.Queues))
	for n := range s.Queues {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		q := s.Queues[n]
		label := n
		if q.HeldByRate {
			label += " (held back by its rate)"
		}
		if q.Paused {
			label += " (paused)"
		}
		fmt.Fprintf(tw, "%s\t", label)
		for _, st := range kilntype.States {
			fmt.Fprintf(tw, "%d\t", q.Counts[st])
		}
		oldest := "-"
		if q.OldestQueuedAgeS > 0 {
			oldest = (time.Duration(q.OldestQueuedAgeS * float64(time.Second))).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%.1f\t%.1f\t%s\t", q.SucceededPerSec, q.FailedPerSec, oldest)
		if s.Broker != "" {
			ready := "-"
			if q.BrokerReady != nil {
				ready = fmt.Sprint(*q.BrokerReady)
			}
			fmt.Fprintf(tw, "%s\t", ready)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
