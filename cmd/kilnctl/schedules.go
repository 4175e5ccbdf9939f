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
)

// schedulesCommand lists the schedules: when each ticks next, its last
// tick and how that tick's job stands.
type schedulesCommand struct {
	json bool
}

func (c *schedulesCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("schedules", flag.ContinueOnError)
	fs.BoolVar(&c.json, "json", false, "print the schedules as JSON")
	return parseNoArgs(fs, args)
}

func (c *schedulesCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	s, err := client.Schedules(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(s)
	}
	if len(s.Schedules) == 0 {
		fmt.Fprintln(stdout, "no schedules: add a [schedules.NAME] table to kiln.toml (see kiln.toml(5))")
		return nil
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEDULE\tSPEC\tCATCH-UP\tNEXT TICK\tLAST TICK\tLAST JOB\tSTATE\tHERE")
	for _, sc := range s.Schedules {
		job, state := "-", "not submitted"
		if sc.LastTick.IsZero() {
			state = "-"
		}
		if sc.LastJob != nil {
			job, state = sc.LastJob.ID, string(sc.LastJob.State)
		}
		here := "runs its ticks"
		if !sc.Leading {
			here = "another host runs it"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sc.Name, sc.Spec, sc.CatchUp, tickTime(sc.NextTick, now), tickTime(sc.LastTick, now), job, state, here)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, sc := range s.Schedules {
		if sc.LastError != "" {
			fmt.Fprintf(stdout, "%s: last submit failed: %s\n", sc.Name, sc.LastError)
		}
	}
	return nil
}

// tickTime is a tick's local time with how far it is from now.
func tickTime(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now).Round(time.Second)
	rel := "in " + d.String()
	if d < 0 {
		rel = (-d).String() + " ago"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST") + " (" + rel + ")"
}
