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
	Cmd    *exec.Cmd     // the running kilnd, after Start
	Ready  time.Duration // how long the last Start took to READY=1
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
	notify, err := sdnotify.Listen(filepath.Join(i.Dir, "notify.sock"))
	if err != nil {
		return err
	}
	// Closed once READY=1 is in: kilnd's later notices then fail fast.
	defer notify.Close()
	cmd := exec.Command(kilnd, "-config", i.Config)
	cmd.Env = append(os.Environ(), notify.Env())
	cmd.Stderr = stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", kilnd, err)
	}
	if err := notify.WaitReady(readyTimeout); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("kilnd: %w", err)
	}
	i.Cmd, i.Ready = cmd, time.Since(t0)
	return nil
}

// Client talks to the running kilnd.
func (i *Instance) Client() *api.Client { return api.NewClient(i.Socket) }
