// Command kilnctl controls a running kilnd over its unix socket.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"kiln/api"
)

const usage = `usage: kilnctl [-socket PATH] COMMAND [ARGS]

Commands:
  submit -pipeline NAME [flags] FILE...   queue pictures; prints job IDs
         flags: -wait -json -queue Q -priority N -at TIME -in DELAY
                -unique-key K -max-attempts N -timeout-per-attempt D
  submit -type T [-payload JSON] [flags]  queue one job of another type
  job [-json] ID                          show one job, with every attempt's error
  jobs [-queue Q] [-state S] [-limit N]   list jobs, oldest first
  retry ID | retry -dead [-queue Q]       run dead (or cancelled) jobs again
  cancel ID                               cancel a job; a running one is stopped
  pause QUEUE | resume QUEUE              stop or restart starting jobs of a queue
  purge -dead|-succeeded|-cancelled [-older-than D] [-queue Q]
  status [-json]                          queues: counts, rates, oldest waiting job
  events [-follow] [-since ID] [-queue Q] [-job ID] [-state S,...]
                                          job state changes; -follow resumes across restarts

Every command takes -json for scripts.

The socket is -socket, else $KILN_SOCKET, else ` + api.DefaultSocket + `.
`

// command is one kilnctl subcommand.
type command interface {
	ParseFlags(args []string) error
	Run(ctx context.Context, c *api.Client, stdout io.Writer) error
}

// errReported means the command has already told the user what went wrong.
var errReported = errors.New("reported")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kilnctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	socket := fs.String("socket", "", "control socket of kilnd")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *socket == "" {
		*socket = os.Getenv("KILN_SOCKET")
	}
	if *socket == "" {
		*socket = api.DefaultSocket
	}

	var cmd command
	switch name := fs.Arg(0); name {
	case "submit":
		cmd = &submitCommand{stderr: stderr}
	case "job":
		cmd = &jobCommand{}
	case "status":
		cmd = &statusCommand{}
	case "jobs":
		cmd = &jobsCommand{}
	case "retry":
		cmd = &retryCommand{}
	case "cancel":
		cmd = &cancelCommand{}
	case "pause":
		cmd = &pauseCommand{}
	case "resume":
		cmd = &pauseCommand{resume: true}
	case "purge":
		cmd = &purgeCommand{}
	case "events":
		cmd = &eventsCommand{}
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "kilnctl: unknown command %q\n%s", name, usage)
		return 2
	}
	if err := cmd.ParseFlags(fs.Args()[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "kilnctl %s: %v\n", fs.Arg(0), err)
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.Run(ctx, api.NewClient(*socket), stdout); err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintf(stderr, "kilnctl %s: %v\n", fs.Arg(0), err)
		}
		return 1
	}
	return 0
}

// parseJobArgs parses the flags of a command that takes one job ID and
// -json.
func parseJobArgs(name string, args []string, id *string, asJSON *bool) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.BoolVar(asJSON, "json", false, "print the job as JSON")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("usage: kilnctl %s [-json] ID", name)
	}
	*id = rest[0]
	return nil
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, as in "submit -pipeline web a.jpg -wait".
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
