package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"kiln/api"
	"kiln/bench/internal/kilnload"
	"kiln/e2e/instance"
	"kiln/worker"
)

var (
	kilndBin     = flag.String("kilnd", "../bin/kilnd", "kilnd binary for the kiln-daemon system")
	lightHosts   = flag.Bool("light-hosts", false, "with -hosts above 1, every host but the first keeps no job records (broker.keep_records = false)")
	kilndProfile = flag.String("kilnd-profile", "", "directory where kilnd writes cpu.pprof and allocs.pprof (one subdirectory per system)")
)

// kilndSystem is the whole daemon: a kilnd process, jobs submitted one per
// request over its unix socket as an application would, no-op jobs run by
// its workers. It pays the IPC a broker pays, which kiln's in-process
// figure does not.
type kilndSystem struct {
	label  string
	kiln   *instance.Instance
	client *api.Client
}

// newKilnd starts a kilnd for the system name; with events false it
// writes no events (KILND_EVENTS_OFF), so that the figures beside the
// same daemon with them say what the event log costs.
func newKilnd(name, dir string, consumers int, events bool) (system, error) {
	kiln, err := instance.Prepare(dir, fmt.Sprintf("[queues.bench]\nconcurrency = %d\nkeep_succeeded = \"0s\"\n", consumers))
	if err != nil {
		return nil, err
	}
	if *kilndProfile != "" {
		pdir := filepath.Join(*kilndProfile, name)
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			return nil, err
		}
		kiln.Env = append(kiln.Env, "KILND_PROFILE_DIR="+pdir)
	}
	if !events {
		kiln.Env = append(kiln.Env, "KILND_EVENTS_OFF=1")
	}
	if err := kiln.Start(*kilndBin, os.Stderr); err != nil {
		return nil, fmt.Errorf("%w (make build)", err)
	}
	return &kilndSystem{label: name, kiln: kiln, client: kiln.Client()}, nil
}

func (k *kilndSystem) name() string { return k.label }

func (k *kilndSystem) servers() servers { return servers{kilnds: []*instance.Instance{k.kiln}} }

func (k *kilndSystem) submit(ctx context.Context, payload []byte) error {
	_, err := k.client.Submit(ctx, api.SubmitRequest{Type: worker.NoopType, Queue: "bench", Payload: json.RawMessage(payload)})
	return err
}

func (k *kilndSystem) waitDone(ctx context.Context, n int) error {
	return kilnload.WaitSucceeded(ctx, k.client, "bench", n)
}

func (k *kilndSystem) close() error {
	k.kiln.Signal(syscall.SIGTERM)
	return k.kiln.Wait()
}
