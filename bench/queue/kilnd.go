package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"kiln/api"
	"kiln/daemon/sdnotify"
	"kiln/worker"
)

var kilndBin = flag.String("kilnd", "../bin/kilnd", "kilnd binary for the kiln-daemon system")

// kilndSystem is the whole daemon: a kilnd process, jobs submitted one per
// request over its unix socket as an application would, no-op jobs run by
// its workers. It pays the IPC a broker pays, which kiln's in-process
// figure does not.
type kilndSystem struct {
	cmd    *exec.Cmd
	client *api.Client
}

func newKilnd(dir string, consumers int) (system, error) {
	socket := filepath.Join(dir, "kiln.sock")
	config := filepath.Join(dir, "kiln.toml")
	os.WriteFile(config, []byte(fmt.Sprintf(`[daemon]
state_dir = %q
pidfile = %q
socket = %q
[log]
target = "stderr"
level = "warn"
[queues.bench]
concurrency = %d
keep_succeeded = "0s"
`, filepath.Join(dir, "state"), filepath.Join(dir, "kilnd.pid"), socket, consumers)), 0o644)
	notify, err := sdnotify.Listen(filepath.Join(dir, "notify.sock"))
	if err != nil {
		return nil, err
	}
	defer notify.Close()
	k := &kilndSystem{client: api.NewClient(socket)}
	k.cmd = exec.Command(*kilndBin, "-config", config)
	k.cmd.Env = append(os.Environ(), notify.Env())
	k.cmd.Stderr = os.Stderr
	if err := k.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kilnd (make build): %w", err)
	}
	if err := notify.WaitReady(30 * time.Second); err != nil {
		k.cmd.Process.Kill()
		return nil, fmt.Errorf("kilnd: %w", err)
	}
	return k, nil
}

func (k *kilndSystem) name() string { return "kiln-daemon" }

func (k *kilndSystem) submit(ctx context.Context, payload []byte) error {
	_, err := k.client.Submit(ctx, api.SubmitRequest{Type: worker.NoopType, Queue: "bench", Payload: json.RawMessage(payload)})
	return err
}

func (k *kilndSystem) waitDone(ctx context.Context, n int) error {
	for {
		st, err := k.client.Status(ctx)
		if err != nil {
			return err
		}
		if q := st.Queues["bench"]; q != nil && q.Counts[worker.StateSucceeded] >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (k *kilndSystem) close() error {
	k.cmd.Process.Signal(syscall.SIGTERM)
	return k.cmd.Wait()
}
