package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"kiln/api"
	"kiln/worker"
)

// completeCommand prints names the running daemon knows, one a line, for
// the bash and zsh completion scripts: its queues, its pipelines, or job
// IDs (newest jobs of the given states).
type completeCommand struct {
	what   string
	states []worker.State
}

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
	case "queues", "pipelines", "jobs", "commands":
	default:
		return fmt.Errorf("cannot complete %q: expected queues, pipelines or jobs", c.what)
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
	case "pipelines":
		s, err := client.Status(ctx)
		if err != nil {
			return err
		}
		names, err = pipelineNames(s.Config)
		if err != nil {
			return err
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
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintln(stdout, n)
	}
	return nil
}

// pipelineNames reads the [pipelines.NAME] tables of the config file the
// daemon reports it runs on. The status answer names the file but not the
// pipelines, so this reads the file as it is now; after a refused reload it
// may list a pipeline the daemon does not run yet.
func pipelineNames(path string) ([]string, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, nil // the embedded dev config has no file to read
	}
	var cfg struct {
		Pipelines map[string]toml.Primitive `toml:"pipelines"`
	}
	if _, err := toml.DecodeFile(path, &cfg); err != nil {
		return nil, fmt.Errorf("read pipelines from %s: %w", path, err)
	}
	names := make([]string, 0, len(cfg.Pipelines))
	for n := range cfg.Pipelines {
		names = append(names, n)
	}
	return names, nil
}
