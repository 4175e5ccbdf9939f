// Command kilnctl controls a running kilnd over its unix socket.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"kiln/api"
	"kiln/internal/buildversion"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, documented in kilnctl(1).
const (
	exitOK          = 0
	exitFailed      = 1 // the daemon refused or the operation failed
	exitUsage       = 2 // bad command line
	exitUnreachable = 3 // no daemon answered on the socket
)

const usage = `usage: kilnctl [-socket PATH] [-timeout D] [-connect-timeout D] COMMAND [ARGS]
       kilnctl -version | -h

Commands:
  submit -pipeline NAME [flags] FILE|DIR|-...
                                          queue pictures: files, directories walked
                                          for pictures, "-" for paths on stdin; all
                                          sent over one stream; prints job IDs, on a
                                          terminal a progress bar and a summary
         flags: -wait -json -queue Q -priority N -at TIME -in DELAY
                -unique-key K -max-attempts N -timeout-per-attempt D
  submit -type T [-payload JSON] [flags]  queue one job of another type
  job ID                                  show one job, with every attempt's error
  jobs [-queue Q] [-state S] [-limit N]   list jobs, oldest first
  retry ID | retry -dead [-queue Q]       run dead (or cancelled) jobs again
  cancel ID                               cancel a job; a running one is stopped
  pause QUEUE | resume QUEUE              stop or restart starting jobs of a queue
  purge -dead|-succeeded|-cancelled [-older-than D] [-queue Q]
  status [-json]                          queues: counts, rates, oldest waiting job
  schedules [-json]                       schedules: next and last tick, the last tick's job
  events [-follow] [-since ID] [-queue Q] [-job ID] [-state S,...]
                                          job state changes; -follow resumes across restarts
  reload                                  make kilnd apply /etc/kiln/kiln.toml and conf.d again
  complete queues|pipelines|jobs          names for shell completion, one a line

Every command takes -json for scripts and -h for its flags.
Exit status: 0 done, 1 refused or failed, 2 bad command line, 3 kilnd not reachable.

The socket is -socket, else $KILN_SOCKET, else ` + api.DefaultSocket + `.
kilnd must begin its answer within -timeout, else $KILN_TIMEOUT, else 30s
(after a -wait, on top of it), and take the connection within
-connect-timeout, else $KILN_CONNECT_TIMEOUT, else 5s; 0 waits as long as
it takes.
`

// The timeouts when neither a flag nor the environment sets them: long
// enough for a busy daemon, short enough that a stopped one does not hang
// a script or "systemctl reload".
const (
	defaultTimeout        = 30 * time.Second
	defaultConnectTimeout = 5 * time.Second
)

// synopses is each command's first help line, shown by "kilnctl CMD -h".
var synopses = map[string]string{
	"submit":    "kilnctl submit -pipeline NAME [flags] FILE|DIR|- ...\n       kilnctl submit -type TYPE [-payload JSON] [flags]",
	"job":       "kilnctl job [-json] ID",
	"jobs":      "kilnctl jobs [-queue Q] [-state S] [-limit N] [-json]",
	"retry":     "kilnctl retry [-json] ID\n       kilnctl retry -dead [-queue Q] [-json]",
	"cancel":    "kilnctl cancel [-json] ID",
	"pause":     "kilnctl pause [-json] QUEUE",
	"resume":    "kilnctl resume [-json] QUEUE",
	"purge":     "kilnctl purge -dead|-succeeded|-cancelled [-older-than D] [-queue Q] [-json]",
	"status":    "kilnctl status [-json]",
	"schedules": "kilnctl schedules [-json]",
	"reload":    "kilnctl reload [-json]",
	"events":    "kilnctl events [-follow] [-since ID] [-queue Q] [-job ID] [-state S,...] [-json]",
	"complete":  "kilnctl complete queues|pipelines|jobs [-state S]",
}

// command is one kilnctl subcommand.
type command interface {
	ParseFlags(args []string) error
	Run(ctx context.Context, c *api.Client, stdout io.Writer) error
}

// errReported means the command has already told the user what went wrong.
var errReported = errors.New("reported")

// helpRequest is what a command's flag parsing returns for -h: run prints
// the command's flags from it to stdout.
type helpRequest struct{ fs *flag.FlagSet }

func (h *helpRequest) Error() string { return flag.ErrHelp.Error() }
func (h *helpRequest) Unwrap() error { return flag.ErrHelp }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func newCommand(name string, stderr io.Writer) command {
	switch name {
	case "submit":
		return &submitCommand{stdin: os.Stdin, stderr: stderr}
	case "job":
		return &jobCommand{}
	case "status":
		return &statusCommand{}
	case "schedules":
		return &schedulesCommand{}
	case "jobs":
		return &jobsCommand{}
	case "retry":
		return &retryCommand{}
	case "cancel":
		return &cancelCommand{}
	case "pause":
		return &pauseCommand{}
	case "resume":
		return &pauseCommand{resume: true}
	case "purge":
		return &purgeCommand{}
	case "reload":
		return &reloadCommand{}
	case "events":
		return &eventsCommand{}
	case "complete":
		return &completeCommand{}
	}
	return nil
}

// commandNames lists the commands, for completion and tests.
func commandNames() []string {
	names := make([]string, 0, len(synopses))
	for n := range synopses {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// globalOptions are the flags that come before the command.
type globalOptions struct {
	socket                  *string
	timeout, connectTimeout *time.Duration
	version                 *bool
}

// globalFlags defines the flags that come before the command.
func globalFlags() (*flag.FlagSet, globalOptions) {
	fs := flag.NewFlagSet("kilnctl", flag.ContinueOnError)
	// The flag package would print the error and the whole usage to
	// stderr; run says it once, and sends asked-for help to stdout.
	fs.SetOutput(io.Discard)
	return fs, globalOptions{
		socket:         fs.String("socket", "", "control socket of kilnd"),
		timeout:        fs.Duration("timeout", defaultTimeout, "how long kilnd may take to begin an answer, on top of a -wait; 0 = no limit (or $KILN_TIMEOUT)"),
		connectTimeout: fs.Duration("connect-timeout", defaultConnectTimeout, "how long connecting to the socket may take; 0 = no limit (or $KILN_CONNECT_TIMEOUT)"),
		version:        fs.Bool("version", false, "print kilnctl's version and exit"),
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	fs, opts := globalFlags()
	socket, showVersion := opts.socket, opts.version
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		fmt.Fprintf(stderr, "kilnctl: %v\nrun 'kilnctl -h' for usage\n", err)
		return exitUsage
	}
	if *showVersion {
		fmt.Fprintln(stdout, "kilnctl", buildversion.Of(version))
		return exitOK
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	if *socket == "" {
		*socket = os.Getenv("KILN_SOCKET")
	}
	if *socket == "" {
		*socket = api.DefaultSocket
	}
	timeouts, err := timeoutsFrom(fs, *opts.timeout, *opts.connectTimeout)
	if err != nil {
		fmt.Fprintf(stderr, "kilnctl: %v\n", err)
		return exitUsage
	}

	name := fs.Arg(0)
	if name == "help" {
		if fs.NArg() > 1 && newCommand(fs.Arg(1), stderr) != nil {
			return run([]string{fs.Arg(1), "-h"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd := newCommand(name, stderr)
	if cmd == nil {
		fmt.Fprintf(stderr, "kilnctl: unknown command %q\nrun 'kilnctl -h' for the list of commands\n", name)
		return exitUsage
	}
	if err := cmd.ParseFlags(fs.Args()[1:]); err != nil {
		var help *helpRequest
		if errors.As(err, &help) {
			fmt.Fprintf(stdout, "usage: %s\n\nFlags:\n", synopses[name])
			help.fs.SetOutput(stdout)
			help.fs.PrintDefaults()
			return exitOK
		}
		fmt.Fprintf(stderr, "kilnctl %s: %v\nrun 'kilnctl %s -h' for its flags\n", name, err, name)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.Run(ctx, api.NewClientTimeouts(*socket, timeouts), stdout); err != nil {
		if errors.Is(err, errReported) {
			return exitFailed
		}
		var te *api.TimeoutError
		if errors.As(err, &te) {
			fmt.Fprintf(stderr, "kilnctl %s: %v\n", name, te)
			fmt.Fprintln(stderr, timeoutHint(te))
			return exitUnreachable
		}
		fmt.Fprintf(stderr, "kilnctl %s: %v\n", name, err)
		if !unreachable(err) {
			return exitFailed
		}
		if errors.Is(err, os.ErrPermission) {
			fmt.Fprintf(stderr, "hint: only root and members of the kiln group may use %s;\n"+
				"      add a user with `usermod -aG kiln USER` (it applies at the next login)\n", *socket)
		}
		return exitUnreachable
	}
	return exitOK
}

// unreachable tells whether err means that no daemon could be asked at all
// (no socket, nobody listening, no permission), as opposed to a refusal.
func unreachable(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// flagsOnce makes fs report nothing itself: run prints a parse error once
// and help to stdout.
func flagsOnce(fs *flag.FlagSet) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
}

// parseErr turns the flag package's ErrHelp into a helpRequest for fs.
func parseErr(fs *flag.FlagSet, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return &helpRequest{fs: fs}
	}
	return err
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
		return errors.New("expected one job ID")
	}
	*id = rest[0]
	return nil
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, as in "submit -pipeline web a.jpg -wait".
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	flagsOnce(fs)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, parseErr(fs, err)
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// parseNoArgs parses flags of a command that takes no arguments.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	flagsOnce(fs)
	if err := fs.Parse(args); err != nil {
		return parseErr(fs, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
