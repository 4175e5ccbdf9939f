package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"kiln/api"
	"kiln/worker"
)

// completeCommand prints names the running daemon knows, one a line, for
// the bash and zsh completion scripts: its queues, job IDs (newest jobs of
// the given states), or what its job kinds' tables name, such as its
// pipelines, as its status lists them.
type completeCommand struct {
	what   string
	states []worker.State
}

// kindNames is what the name of a kind's list may look like.
var kindNames = regexp.MustCompile(`^[a-z][a-z_]*$`)

func (c *completeCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("complete", flag.ContinueOnError)
	state := fs.String("state", "", "with jobs: only jobs in these states, comma-separated")
	fs.Bool("json", false, "accepted for symmetry; the output is always one name a line")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New("expected one of queues, pipelines, jobs")
	}
	c.what = rest[0]
	switch c.what {
	case "queues", "jobs", "commands":
	default:
		// The kinds' names (pipelines) are the daemon's to know.
		if !kindNames.MatchString(c.what) {
			return fmt.Errorf("cannot complete %q: expected queues, pipelines or jobs", c.what)
		}
	}
	for _, s := range strings.Split(*state, ",") {
		if s == "" {
			continue
		}
		if !worker.State(s).Valid() {
			return fmt.Errorf("-state %q is not one of %v", s, worker.States)
		}
		c.states = append(c.states, worker.State(s))
	}
	return nil
}

func (c *completeCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	var names []string
	switch c.what {
	case "commands":
		names = append(commandNames(), "help")
	case "queues":
		s, err := client.Status(ctx)
		if err != nil {
			return err
		}
		for q := range s.Queues {
			names = append(names, q)
		}
	case "jobs":
		states := c.states
		if len(states) == 0 {
			states = []worker.State{""}
		}
		for _, st := range states {
			jobs, err := client.List(ctx, "", st, 500)
			if err != nil {
				return err
			}
			for _, j := range jobs {
				names = append(names, j.ID)
			}
		}
	default:
		s, err := client.Status(ctx)
		if err != nil {
			return err
		}
		listed, ok := s.Names[c.what]
		if !ok {
			return fmt.Errorf("cannot complete %q: expected queues, jobs or what kilnd's kinds name: %s", c.what, strings.Join(slices.Sorted(maps.Keys(s.Names)), ", "))
		}
		names = listed
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintln(stdout, n)
	}
	return nil
}
