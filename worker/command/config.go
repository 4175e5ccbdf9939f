// Package command runs an operator's own programs as durable jobs. Each
// [commands.NAME] table of kiln.toml declares a job kind of type NAME whose
// jobs run one fixed program: the config names the program and its
// arguments, a submit brings only the payload, which the program reads on
// its standard input. Its standard output becomes the job's result, its
// exit status says whether the attempt succeeded, should be retried or can
// never succeed, and a line written to file descriptor 3 reports progress.
package command

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"kiln/worker"
)

// Config is one [commands.NAME] table.
type Config struct {
	// Command is the program, an absolute path, and the arguments it is
	// always given. Nothing a submitter sends is added to them.
	Command []string `toml:"command"`
	// Queue is where the command's jobs go when the submitter names none;
	// "" is the default queue.
	Queue string `toml:"queue"`
	// Timeout bounds one attempt; 0 leaves it to the queue. A job never runs
	// longer than its queue's timeout either.
	Timeout worker.Duration `toml:"timeout"`
	// MaxAttempts bounds the attempts of a job; 0 leaves it to the queue,
	// whose own bound also holds.
	MaxAttempts int `toml:"max_attempts"`
	// Env is the program's whole environment besides what kiln sets
	// (KILN_JOB_ID, KILN_ATTEMPT, KILN_QUEUE, TMPDIR, and PATH when Env has
	// none): KEY=value entries. Nothing of the daemon's own environment
	// reaches the program, so that what it sees is what the config says.
	Env []string `toml:"env"`
	// WorkingDir is where the program starts; "" is its job's fresh
	// temporary directory.
	WorkingDir string `toml:"working_dir"`
	// KillGrace is how long a program stopped by a timeout or a cancel has
	// between SIGTERM and SIGKILL; SetDefaults makes it DefaultKillGrace.
	KillGrace worker.Duration `toml:"kill_grace"`
	// Then are the job types that follow each job of this command that
	// succeeds, one follow-up each, with the program's result as its
	// payload (then.go).
	Then []string `toml:"then"`
}

// DefaultKillGrace is the time between SIGTERM and SIGKILL when a command's
// table sets none.
const DefaultKillGrace = 5 * time.Second

// DefaultPath is the PATH a program gets when its env sets none: the
// system's directories, never the daemon's own PATH.
const DefaultPath = "/usr/local/bin:/usr/bin:/bin"

// reservedEnv are the variables kiln sets for every run; a config cannot
// set them, so that a program can trust them.
var reservedEnv = []string{"KILN_JOB_ID", "KILN_ATTEMPT", "KILN_QUEUE"}

// QueueName is the queue the command's jobs go to by default.
func (c *Config) QueueName(defaultQueue string) string {
	if c.Queue == "" {
		return defaultQueue
	}
	return c.Queue
}

// ConfigProblem is one problem of a [commands.NAME] table: Key is the full
// key ("commands.resize.env[1]"), as the config's error lines name it.
type ConfigProblem struct {
	Key, Msg string
}

// Check reports every problem of the table of command name: values out of
// bounds, a queue that is not configured, and a program that cannot be
// run. queues are the queues configured.
func (c *Config) Check(name string, queues map[string]worker.QueueConfig) []ConfigProblem {
	return append(c.checkValues(name, queues), c.checkMachine(name)...)
}

// checkValues reports the problems that the table's values show by
// themselves.
func (c *Config) checkValues(name string, queues map[string]worker.QueueConfig) []ConfigProblem {
	var out []ConfigProblem
	key := func(k string) string { return "commands." + name + "." + k }
	report := func(k, msg string) { out = append(out, ConfigProblem{key(k), msg}) }

	if err := CheckName(name); err != nil {
		out = append(out, ConfigProblem{"commands." + name, err.Error()})
	}
	if len(c.Command) == 0 {
		report("command", "is required: the program's absolute path, then its fixed arguments")
	} else if !filepath.IsAbs(c.Command[0]) {
		report("command", fmt.Sprintf("%q must be an absolute path (programs are never looked up in PATH)", c.Command[0]))
	}
	q, queued := queues[c.Queue]
	if c.Queue != "" && !queued {
		report("queue", fmt.Sprintf("queue %q is not configured (add a [queues.%s] table)", c.Queue, c.Queue))
	}
	if c.Timeout < 0 {
		report("timeout", "must not be negative (0 leaves it to the queue)")
	}
	if c.MaxAttempts < 0 {
		report("max_attempts", "must not be negative (0 leaves it to the queue)")
	}
	switch {
	case c.KillGrace < 0:
		report("kill_grace", "must not be negative (0 sends SIGKILL right after SIGTERM)")
	case queued && q.Timeout > 0 && c.KillGrace >= q.Timeout:
		// The queue's timeout bounds the whole attempt, the stop
		// included: the program gets SIGTERM kill_grace before it.
		report("kill_grace", fmt.Sprintf("must be shorter than the timeout of queue %q (%s), which bounds the program's stop too", c.Queue, q.Timeout.Std()))
	}
	seen := map[string]int{}
	for i, kv := range c.Env {
		k := fmt.Sprintf("env[%d]", i)
		name, _, ok := strings.Cut(kv, "=")
		switch {
		case !ok || name == "":
			report(k, fmt.Sprintf("%q is not KEY=value", kv))
		case strings.ContainsAny(name, " \t\n\x00") || strings.Contains(kv, "\x00"):
			report(k, fmt.Sprintf("%q holds a space or a NUL in its name or a NUL in its value", kv))
		case slices.Contains(reservedEnv, name):
			report(k, fmt.Sprintf("%s is set by kiln for every job and cannot be configured", name))
		default:
			if j, dup := seen[name]; dup {
				report(k, fmt.Sprintf("%s is already set by env[%d]", name, j))
			}
			seen[name] = i
		}
	}
	if c.WorkingDir != "" && !filepath.IsAbs(c.WorkingDir) {
		report("working_dir", fmt.Sprintf("%q must be an absolute path", c.WorkingDir))
	}
	return out
}

// checkMachine reports what the machine says of the table: a program that
// cannot be run, a working_dir that is no directory.
func (c *Config) checkMachine(name string) []ConfigProblem {
	var out []ConfigProblem
	key := "commands." + name + "."
	if len(c.Command) > 0 && filepath.IsAbs(c.Command[0]) {
		if err := CheckProgram(c.Command[0]); err != nil {
			out = append(out, ConfigProblem{key + "command", err.Error()})
		}
	}
	if c.WorkingDir != "" && filepath.IsAbs(c.WorkingDir) {
		if err := isDir(c.WorkingDir); err != nil {
			out = append(out, ConfigProblem{key + "working_dir", err.Error()})
		}
	}
	return out
}

// CheckName accepts the names a command's table may have: they are job
// types, typed on command lines and written in logs.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("a command needs a name")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("name %q may hold only letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}
