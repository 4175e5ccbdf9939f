// Package instance runs a real kilnd in a scratch directory that holds its
// config, state, socket and pidfile, and starts it the way systemd would:
// with a notify socket, returning once kilnd has said READY=1. The crash
// test and the benchmarks drive kilnd through it.
package instance

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"kiln/api"
	"kiln/daemon/sdnotify"
)

// readyTimeout is generous: a store with a million jobs still opens in
// well under a second, but a loaded CI machine is slow.
const readyTimeout = 5 * time.Minute

// Instance is one kilnd's directory and, once started, its process.
type Instance struct {
	Dir    string
	Config string
	Socket string
	Env    []string      // added to kilnd's environment at Start
	Ready  time.Duration // how long the last Start took to READY=1

	proc *Process // the running kilnd, after Start
}

// Prepare writes a config for a kilnd living in dir, logging warnings to
// stderr; queues holds the [queues.NAME] tables (and anything else) to add.
func Prepare(dir, queues string) (*Instance, error) {
	i := &Instance{Dir: dir, Config: filepath.Join(dir, "kiln.toml"), Socket: filepath.Join(dir, "kiln.sock")}
	config := fmt.Sprintf(`[daemon]
state_dir = %q
pidfile = %q
socket = %q
[log]
target = "stderr"
level = "warn"
%s`, filepath.Join(dir, "state"), filepath.Join(dir, "kilnd.pid"), i.Socket, queues)
	if err := os.WriteFile(i.Config, []byte(config), 0o644); err != nil {
		return nil, err
	}
	return i, nil
}

// Start runs the kilnd binary at path with stderr going to stderr, and
// returns once it is ready; a kilnd that fails to start is reaped and its
// last status returned.
func (i *Instance) Start(kilnd string, stderr io.Writer) error {
	t0 := time.Now()
	p, err := Launch(kilnd, i.Config, filepath.Join(i.Dir, "notify.sock"), i.Env, stderr)
	if err != nil {
		return err
	}
	// Closed once READY=1 is in: kilnd's later notices then fail fast.
	p.Notify.Close()
	i.proc, i.Ready = p, time.Since(t0)
	return nil
}

// PID is the running kilnd's process ID.
func (i *Instance) PID() int { return i.proc.Cmd.Process.Pid }

// Signal sends sig to the running kilnd.
func (i *Instance) Signal(sig os.Signal) error { return i.proc.Cmd.Process.Signal(sig) }

// Wait waits for the running kilnd to exit and returns how it did.
func (i *Instance) Wait() error { return i.proc.Wait() }

// Client talks to the running kilnd.
func (i *Instance) Client() *api.Client { return api.NewClient(i.Socket) }

// Process is a kilnd started by Launch. It is reaped by Launch's own
// goroutine: wait for it with Wait or Exited, never with Cmd.Wait.
type Process struct {
	Cmd    *exec.Cmd
	Notify *sdnotify.Listener // still open, for the notices after READY=1
	Exited chan struct{}      // closed once the process has been reaped
	Err    error              // what Wait returned, once Exited is closed
}

// Wait waits for the process to exit and returns what reaping it said.
func (p *Process) Wait() error {
	<-p.Exited
	return p.Err
}

// Launch starts the kilnd binary on config the way systemd would, with a
// notify socket at notifyPath and env added to its environment, and
// returns once it has said READY=1. A kilnd that exits first is reaped, and
// the error holds its last STATUS= (its reason).
func Launch(kilnd, config, notifyPath string, env []string, stderr io.Writer) (*Process, error) {
	notify, err := sdnotify.Listen(notifyPath)
	if err != nil {
		return nil, err
	}
	p := &Process{Notify: notify, Exited: make(chan struct{})}
	p.Cmd = exec.Command(kilnd, "-config", config)
	p.Cmd.Env = append(append(os.Environ(), notify.Env()), env...)
	p.Cmd.Stderr = stderr
	if err := p.Cmd.Start(); err != nil {
		notify.Close()
		return nil, fmt.Errorf("start %s: %w", kilnd, err)
	}
	go func() {
		p.Err = p.Cmd.Wait()
		close(p.Exited)
		// Its last words may still be queued: read them, then give up.
		notify.Expire(time.Second)
	}()
	if err := notify.WaitReady(readyTimeout); err != nil {
		p.Cmd.Process.Kill()
		<-p.Exited
		notify.Close()
		return nil, fmt.Errorf("kilnd: %w (exit: %v)", err, p.Err)
	}
	return p, nil
}
