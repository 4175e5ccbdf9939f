package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"kiln/worker"
)

// Run is one run of a program, as a job's attempt asks for it.
type Run struct {
	Path string   // absolute
	Args []string // after the program's own name
	// Env is the program's whole environment; TMPDIR is added, naming the
	// run's temporary directory, unless Env sets it.
	Env []string
	// Dir is where the program starts; "" is the run's temporary
	// directory.
	Dir string
	// TempRoot holds the run's temporary directory ("" is $TMPDIR), named
	// TempPrefix and something random.
	TempRoot, TempPrefix string
	Stdin                []byte        // all the program reads on its standard input
	KillGrace            time.Duration // between SIGTERM and SIGKILL
	OutputLimit          int           // bytes of standard output kept
	// Progress hears each progress line the program writes to ProgressFD.
	Progress func(worker.Progress)
	// Log gets each line of standard error (the first maxLoggedLines),
	// and what went wrong around the program.
	Log *slog.Logger
}

// Outcome is what a run came to.
type Outcome struct {
	output captured
	// State is how the program ended.
	State *os.ProcessState
	// Stopped is the last signal kiln sent the program's group because
	// the run's context was done (a timeout, a cancel): 0, SIGTERM or
	// SIGKILL.
	Stopped syscall.Signal
	// StderrTail holds the last StderrTailLines lines of standard error.
	StderrTail []string
	// PGID is the process group the program ran in; it is gone now.
	PGID int
}

// waitStatus is how the program ended, as wait(2) told it.
func (o *Outcome) waitStatus() syscall.WaitStatus { return o.State.Sys().(syscall.WaitStatus) }

// Result is the job result the program's standard output makes.
func (o *Outcome) Result() []byte { return o.output.result() }

// OutputCut reports whether the program wrote more than OutputLimit.
func (o *Outcome) OutputCut() bool { return o.output.cut() }

// StartError is a program that could not be started; the job never ran.
type StartError struct {
	Path string
	Err  error
}

func (e *StartError) Error() string { return "start " + e.Path + ": " + e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// pipeDrain is how long the reads of a program's pipes may go on once its
// whole group is gone: only a process that left the group can still hold
// them open, and the run does not wait for it.
const pipeDrain = time.Second

// Execute runs a program to its end: in its own process group, with the
// payload on its standard input, its standard output captured, its standard
// error logged line by line, its progress lines read from ProgressFD, and a
// fresh temporary directory that is removed afterwards. When ctx is done
// the group is sent SIGTERM, and SIGKILL after KillGrace. Whenever the
// program ends, whatever is left of its group is ended the same way, so
// that no process of the run outlives it. Only a program that cannot be
// started is an error; how it ended is in the Outcome.
func Execute(ctx context.Context, r Run) (*Outcome, error) {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tmp, err := os.MkdirTemp(r.TempRoot, r.TempPrefix)
	if err != nil {
		return nil, fmt.Errorf("make a temporary directory for %s: %w", r.Path, err)
	}
	defer func() {
		if err := removeTemp(tmp); err != nil {
			log.Error("temporary directory of a command not removed", "dir", tmp, "err", err)
		}
	}()

	var parent, child []*os.File // the pipes' ends on each side
	pipe := func() (*os.File, *os.File, error) {
		rd, wr, err := os.Pipe()
		if err == nil {
			parent = append(parent, rd, wr)
		}
		return rd, wr, err
	}
	defer func() {
		for _, f := range parent {
			f.Close()
		}
	}()
	stdinR, stdinW, err1 := pipe()
	stdoutR, stdoutW, err2 := pipe()
	stderrR, stderrW, err3 := pipe()
	progR, progW, err4 := pipe()
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, fmt.Errorf("make the pipes of %s: %w", r.Path, err)
	}
	child = []*os.File{stdinR, stdoutW, stderrW, progW}

	env := r.Env
	if !hasEnv(env, "TMPDIR") {
		env = append(env[:len(env):len(env)], "TMPDIR="+tmp)
	}
	dir := r.Dir
	if dir == "" {
		dir = tmp
	}
	cmd := &exec.Cmd{
		Path: r.Path, Args: append([]string{r.Path}, r.Args...), Env: env, Dir: dir,
		Stdin: stdinR, Stdout: stdoutW, Stderr: stderrW, ExtraFiles: []*os.File{progW},
		SysProcAttr: &syscall.SysProcAttr{
			// Its own group, so that one signal reaches all it starts and
			// a terminal's Ctrl-C reaches none of them.
			Setpgid: true,
			// Should kilnd itself die, the program goes with it rather
			// than run on beside the next attempt.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	err = cmd.Start()
	for _, f := range child {
		f.Close() // the program has its own copies
	}
	if err != nil {
		return nil, &StartError{Path: r.Path, Err: unwrapPathError(err)}
	}
	out := &Outcome{PGID: cmd.Process.Pid}
	g := group{pgid: cmd.Process.Pid}

	var readers sync.WaitGroup
	readers.Go(func() {
		// A program that does not read its input, or not all of it, is
		// not an error: the write just stops.
		stdinW.Write(r.Stdin)
		stdinW.Close()
	})
	readers.Go(func() {
		var err error
		out.output, err = capture(stdoutR, r.OutputLimit)
		if err != nil {
			log.Warn("reading a command's standard output failed", "err", err)
		}
	})
	errTail := &tail{n: StderrTailLines}
	readers.Go(func() {
		logged := 0
		err := readLines(stderrR, func(line string) {
			errTail.add(line)
			switch logged++; {
			case logged <= maxLoggedLines:
				log.Info("command stderr", "line", line)
			case logged == maxLoggedLines+1:
				log.Warn("command stderr: further lines are not logged", "logged", maxLoggedLines)
			}
		})
		if err != nil {
			log.Warn("reading a command's standard error failed", "err", err)
		}
	})
	readers.Go(func() {
		warned := false
		err := readLines(progR, func(line string) {
			p, err := parseProgress(line, time.Now())
			switch {
			case err == nil && r.Progress != nil:
				r.Progress(p)
			case err != nil && !warned:
				warned = true
				log.Warn("command progress line ignored", "fd", ProgressFD, "err", err)
			}
		})
		if err != nil {
			log.Warn("reading a command's progress failed", "err", err)
		}
	})

	exited := make(chan struct{})
	go func() {
		// Wait reaps the program; its error is in ProcessState.
		cmd.Wait()
		close(exited)
	}()
	var termAt time.Time
	select {
	case <-exited:
	case <-ctx.Done():
		g.signal(syscall.SIGTERM)
		termAt = time.Now()
	}
	sent, err := g.end(r.KillGrace, termAt)
	if err != nil {
		log.Error("processes of a command outlived it", "err", err)
	}
	if !termAt.IsZero() {
		out.Stopped = sent
	} else if sent != 0 {
		log.Warn("a command left processes running when it ended; they were stopped", "pgid", g.pgid, "signal", signalName(sent))
	}
	<-exited
	out.State = cmd.ProcessState

	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(pipeDrain):
		log.Warn("a process outside the command's group holds its pipes open; reading stops", "pgid", g.pgid)
		for _, f := range []*os.File{stdinW, stdoutR, stderrR, progR} {
			f.SetDeadline(time.Now())
		}
		<-drained
	}
	out.StderrTail = errTail.lines
	return out, nil
}

// signalName names a signal as kill(1) does: "SIGSEGV".
func signalName(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(s))
}

func hasEnv(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

func unwrapPathError(err error) error {
	var perr *os.PathError
	if errors.As(err, &perr) {
		return perr.Err
	}
	return err
}
