package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"syscall"
	"time"

	"kiln/worker"
)

// Kind is the job kind of one [commands.NAME] table: jobs of type NAME run
// its program. Which program, with which arguments, environment and
// directory, only the config says; a job brings its payload, which the
// program reads on its standard input, and nothing else.
type Kind struct {
	name     string
	settings func() (Config, bool)
	opts     Options
}

// Options are what a command's jobs take from the daemon rather than from
// their table.
type Options struct {
	// DefaultQueue is the queue of a table that names none.
	DefaultQueue string
	// TempRoot holds each run's temporary directory; "" is $TMPDIR.
	TempRoot string
	// Log gets the programs' standard error and what went wrong around
	// them.
	Log *slog.Logger
}

var (
	_ worker.Kind         = (*Kind)(nil)
	_ worker.JobDescriber = (*Kind)(nil)
)

// NewKind returns the kind of command name. settings is asked at each
// submit and each job, so that a reload applies to the next one; false
// says the table is gone from the config.
func NewKind(name string, settings func() (Config, bool), opts Options) *Kind {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Kind{name: name, settings: settings, opts: opts}
}

// Type implements worker.Kind: the table's name.
func (k *Kind) Type() string { return k.name }

// Admit implements worker.Kind. Any JSON value is a payload: only the
// program knows what it wants, and it says so with exit status 65.
func (k *Kind) Admit(payload json.RawMessage) (string, error) {
	cfg, ok := k.settings()
	if !ok {
		return "", fmt.Errorf("command %q is not configured", k.name)
	}
	if len(payload) > 0 && !json.Valid(payload) {
		return "", &worker.FieldError{Field: "payload", Msg: "must be a JSON value"}
	}
	return cfg.QueueName(k.opts.DefaultQueue), nil
}

// errTimedOut ends a run that took longer than its command's timeout,
// errAttemptTimeout one that would outlast its attempt's (its queue's or
// its own), stopped kill_grace before that runs out.
var (
	errTimedOut       = errors.New("command timeout")
	errAttemptTimeout = errors.New("attempt timeout")
)

// Describe implements worker.JobDescriber: the program the job runs.
func (k *Kind) Describe(*worker.JobRecord) worker.JobDescription {
	cfg, ok := k.settings()
	if !ok || len(cfg.Command) == 0 {
		return worker.JobDescription{Summary: "command " + k.name + ", no longer configured"}
	}
	return worker.JobDescription{Summary: "command " + k.name + ": " + strings.Join(cfg.Command, " ")}
}

// reapMargin is the time a stop is given after SIGKILL, to reap the
// program and end the run.
const reapMargin = 100 * time.Millisecond

// Exit statuses with a meaning of their own (sysexits.h).
const (
	ExitDataErr  = 65 // EX_DATAERR: the input is wrong; no retry can help
	ExitTempFail = 75 // EX_TEMPFAIL: try again later
)

// Handle implements worker.Kind: one run of the program.
func (k *Kind) Handle(ctx context.Context, job *worker.JobRecord) (json.RawMessage, error) {
	cfg, ok := k.settings()
	if !ok {
		return nil, worker.Permanent(fmt.Errorf("command %q is no longer configured", k.name))
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) > cfg.KillGrace.Std()+reapMargin {
		// The attempt's timeout bounds its stop too: the job's lease ends
		// soon after it, and the program must be gone by then, not run on
		// beside the attempt that follows.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, d.Add(-cfg.KillGrace.Std()-reapMargin), errAttemptTimeout)
		defer cancel()
	}
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, cfg.Timeout.Std(), errTimedOut)
		defer cancel()
	}
	log := k.opts.Log.With("job", job.ID, "command", k.name, "attempt", job.Attempts)
	out, err := Execute(ctx, Run{
		Path: cfg.Command[0], Args: cfg.Command[1:], Env: k.environment(cfg, job), Dir: cfg.WorkingDir,
		TempRoot: k.opts.TempRoot, TempPrefix: "kiln-job-" + fileSafe(job.ID) + "-",
		Stdin: job.Payload, KillGrace: cfg.KillGrace.Std(), OutputLimit: OutputLimit,
		Progress: func(p worker.Progress) { worker.ReportProgress(ctx, p) },
		Log:      log,
	})
	if err != nil {
		// Checked at start, so the program was there: someone may put it
		// back, and the next attempt runs it.
		return nil, err
	}
	if out.OutputCut() {
		log.Warn("command output cut", "kept", OutputLimit, "written", out.output.total)
	}
	err = k.failure(ctx, cfg, out)
	if err == nil {
		return out.Result(), nil
	}
	if !worker.IsPermanent(err) && cfg.MaxAttempts > 0 && job.Attempts >= cfg.MaxAttempts {
		err = worker.Permanent(fmt.Errorf("%w (attempt %d of commands.%s.max_attempts = %d)", err, job.Attempts, k.name, cfg.MaxAttempts))
	}
	return nil, err
}

// failure is the error of a run that did not succeed, nil for one that
// did.
func (k *Kind) failure(ctx context.Context, cfg Config, out *Outcome) error {
	prog := cfg.Command[0]
	if out.Stopped != 0 {
		why := "stopped"
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errTimedOut):
			why = fmt.Sprintf("timed out after %s", cfg.Timeout.Std())
		case errors.Is(cause, errAttemptTimeout):
			why = fmt.Sprintf("timed out (SIGTERM %s before the attempt's timeout, to be gone by then)", cfg.KillGrace.Std()+reapMargin)
		}
		how := "with SIGTERM"
		if out.Stopped == syscall.SIGKILL {
			how = fmt.Sprintf("with SIGKILL after %s of SIGTERM", cfg.KillGrace.Std())
		}
		return withTail(fmt.Errorf("run %s: %s: ended %s", prog, why, how), out.StderrTail)
	}
	ws := out.waitStatus()
	switch {
	case ws.Signaled():
		return withTail(fmt.Errorf("run %s: killed by %s", prog, signalName(ws.Signal())), out.StderrTail)
	case ws.ExitStatus() == 0:
		return nil
	case ws.ExitStatus() == ExitDataErr:
		reason := "no reason given on standard error"
		if n := len(out.StderrTail); n > 0 {
			reason = out.StderrTail[n-1]
		}
		return worker.Permanent(fmt.Errorf("run %s: refused the job (exit status 65, EX_DATAERR): %s", prog, reason))
	case ws.ExitStatus() == ExitTempFail:
		return withTail(fmt.Errorf("run %s: failed for now (exit status 75, EX_TEMPFAIL), retried later", prog), out.StderrTail)
	default:
		return withTail(fmt.Errorf("run %s: exited with status %d", prog, ws.ExitStatus()), out.StderrTail)
	}
}

// withTail adds the last lines of standard error to a failed attempt's
// error: what the program said is usually why it failed.
func withTail(err error, tail []string) error {
	if len(tail) == 0 {
		return err
	}
	msg := "; standard error ends:"
	for _, l := range tail {
		msg += "\n  " + l
	}
	return fmt.Errorf("%w%s", err, msg)
}

// environment is the program's environment: its table's env, PATH if that
// sets none, and what tells the program which job it runs.
func (k *Kind) environment(cfg Config, job *worker.JobRecord) []string {
	env := make([]string, 0, len(cfg.Env)+4)
	env = append(env, cfg.Env...)
	if !hasEnv(env, "PATH") {
		env = append(env, "PATH="+DefaultPath)
	}
	return append(env,
		"KILN_JOB_ID="+job.ID,
		"KILN_ATTEMPT="+strconv.Itoa(job.Attempts),
		"KILN_QUEUE="+job.Queue,
	)
}
