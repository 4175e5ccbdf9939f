// Command kilnd is the kiln daemon: a durable job queue and its workers.
package main

import (
	"flag"
	"fmt"
	"os"

	"kiln/daemon"
	"kiln/internal/buildversion"
	"kiln/worker"
	"kiln/worker/command"
	"kiln/worker/image"
	"kiln/worker/webhook"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// plugins are the job kinds this build of kilnd runs, with their tables of
// kiln.toml; the daemon knows none of them itself.
func plugins() []worker.Plugin {
	return []worker.Plugin{image.Plugin(), webhook.Plugin(), command.Plugin()}
}

func main() {
	fs := flag.NewFlagSet("kilnd", flag.ContinueOnError)
	opts := daemon.Options{Version: buildversion.Of(version), Args: os.Args, Stdout: os.Stdout, Stderr: os.Stderr}
	fs.StringVar(&opts.ConfigPath, "config", daemon.DefaultConfigPath, "config file")
	fs.BoolVar(&opts.Dev, "dev", false, "use the embedded development config (state under ./var, logs on stderr)")
	fs.BoolVar(&opts.CheckConfig, "check-config", false, "validate the config, print \"config OK\" or the errors, and exit")
	fs.BoolVar(&opts.PrintConfig, "print-config", false, "print the config in effect, merged from the file and its conf.d drop-ins, with where each value comes from, and exit")
	fs.BoolVar(&opts.Detach, "daemon", false, "detach from the terminal (for hosts without systemd); exits once the daemon is ready")
	showVersion := fs.Bool("version", false, "print the version and exit")
	hashPassword := fs.Bool("hash-password", false, "read a dashboard password on stdin and print its field for the tokens file")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(daemon.ExitUsage)
	}
	if opts.CheckConfig && opts.PrintConfig {
		fmt.Fprintln(os.Stderr, "kilnd: -check-config and -print-config: use one at a time")
		os.Exit(daemon.ExitUsage)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "kilnd: unexpected argument %q\n", fs.Arg(0))
		os.Exit(daemon.ExitUsage)
	}
	if *hashPassword {
		os.Exit(printPasswordHash())
	}
	if *showVersion {
		fmt.Println("kilnd", buildversion.Of(version))
		return
	}
	os.Exit(daemon.Run(opts, plugins()...))
}
