package image

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Pictures from strangers are decoded in worker processes
// (kiln-image-worker, package render, found by FindWorker): one JSON
// request per line on its stdin, one JSON answer per line on its stdout
// (protocol.go). A decoder that hangs is killed on the job's timeout; one
// that crashes takes only its attempt with it; libvips is never loaded
// into the daemon, and workers are recycled after a number of jobs or
// above a resident size.

// Workers is the daemon's pool of worker processes; it implements Renderer.
type Workers struct {
	command  []string
	settings func() ImagesConfig // the current [images] table
	observer WorkerObserver      // nil when nobody listens

	// rendering counts the pictures being rendered, to share the CPUs
	// out among them.
	rendering atomic.Int64

	mu     sync.Mutex
	idle   []*workerProcess
	closed bool
}

// processSettings are what a worker process is started with and keeps for
// its whole life.
type processSettings struct {
	WorkerSettings
	allowUntrustedLoaders bool
}

func processSettingsOf(c ImagesConfig) processSettings {
	return processSettings{WorkerSettings: c.WorkerSettings, allowUntrustedLoaders: c.AllowUntrustedLoaders}
}

type workerProcess struct {
	cmd      *exec.Cmd
	in       io.WriteCloser
	out      *json.Decoder
	jobs     int
	settings processSettings
}

// NewWorkers returns a pool that starts workers with command (the worker
// binary, FindWorker) under the settings current at the time.
func NewWorkers(command []string, settings func() ImagesConfig) *Workers {
	return &Workers{command: command, settings: settings}
}

// workerEnv is the environment of a worker process started under ps.
func workerEnv(ps processSettings) []string {
	// glibc gives each thread its own malloc arena, which libvips' threads
	// leave mostly empty: two arenas cut a worker's resident size by a
	// third at no cost in speed here.
	env := append(os.Environ(), "MALLOC_ARENA_MAX=2")
	// GLib's slice allocator keeps per-thread magazines of freed GObject
	// memory that outlive libvips' short-lived threads; plain malloc
	// leaves an idle worker about 0.5 MiB smaller at the same speed.
	env = append(env, "G_SLICE=always-malloc")
	if ps.WorkerMemoryMax > 0 {
		env = append(env, fmt.Sprintf("%s=%d", EnvWorkerMemoryMax, int64(ps.WorkerMemoryMax)))
	}
	if ps.ThreadsPerWorker > 0 {
		// libvips reads its thread count from here at start.
		env = append(env, fmt.Sprintf("VIPS_CONCURRENCY=%d", ps.ThreadsPerWorker))
	}
	if ps.allowUntrustedLoaders {
		env = append(env, EnvAllowUntrustedLoaders+"=1")
	}
	return env
}

func (w *Workers) spawn(ps processSettings) (*workerProcess, error) {
	cmd := exec.Command(w.command[0], w.command[1:]...)
	cmd.Env = workerEnv(ps)
	cmd.Stderr = os.Stderr
	// A worker must not outlive the daemon.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start image worker %s: %w", w.command[0], err)
	}
	if w.observer != nil {
		w.observer.WorkerStarted()
	}
	return &workerProcess{cmd: cmd, in: in, out: json.NewDecoder(bufio.NewReader(out)), settings: ps}, nil
}

// get hands out an idle worker started under ps, or a new one. Idle workers
// started under other settings are stopped on the way.
func (w *Workers) get(ps processSettings) (*workerProcess, error) {
	var stale []*workerProcess
	defer func() {
		for _, p := range stale {
			p.stop()
		}
	}()
	w.mu.Lock()
	for len(w.idle) > 0 {
		p := w.idle[len(w.idle)-1]
		w.idle = w.idle[:len(w.idle)-1]
		if p.settings == ps {
			w.mu.Unlock()
			return p, nil
		}
		stale = append(stale, p)
	}
	w.mu.Unlock()
	return w.spawn(ps)
}

func (w *Workers) put(p *workerProcess) {
	p.jobs++
	current := processSettingsOf(w.settings())
	recycle := p.settings != current ||
		(current.RecycleAfter > 0 && p.jobs >= current.RecycleAfter) ||
		(current.MaxWorkerRSS > 0 && rss(p.cmd.Process.Pid) > int64(current.MaxWorkerRSS))
	w.mu.Lock()
	if recycle || w.closed {
		w.mu.Unlock()
		p.stop()
		if recycle && w.observer != nil {
			w.observer.WorkerRecycled()
		}
		return
	}
	w.idle = append(w.idle, p)
	w.mu.Unlock()
}

// ConfigChanged stops the idle workers that were started under settings
// other than the current ones, so that no job runs in one after a reload;
// busy ones are replaced when their job ends.
func (w *Workers) ConfigChanged() {
	current := processSettingsOf(w.settings())
	w.mu.Lock()
	var stale, keep []*workerProcess
	for _, p := range w.idle {
		if p.settings == current {
			keep = append(keep, p)
		} else {
			stale = append(stale, p)
		}
	}
	w.idle = keep
	w.mu.Unlock()
	for _, p := range stale {
		p.stop()
	}
}

// IdlePIDs lists the idle worker processes, for status and tests.
func (w *Workers) IdlePIDs() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	pids := make([]int, len(w.idle))
	for i, p := range w.idle {
		pids[i] = p.cmd.Process.Pid
	}
	return pids
}

// stop ends a worker politely: no more requests, so it exits.
func (p *workerProcess) stop() {
	p.in.Close()
	p.cmd.Wait()
}

func (p *workerProcess) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// Render implements Renderer. The request's input limits come from the same
// config as the worker's settings, so its loader policy is the worker's.
func (w *Workers) Render(ctx context.Context, req RenderRequest) (*Result, error) {
	ps := processSettingsOf(w.settings())
	ps.allowUntrustedLoaders = req.Limits.AllowUntrustedLoaders
	w.rendering.Add(1)
	defer w.rendering.Add(-1)
	p, err := w.get(ps)
	if err != nil {
		return nil, err
	}
	buf, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	answered := make(chan error, 1)
	var ans WorkerMessage
	go func() {
		if _, err := p.in.Write(append(buf, '\n')); err != nil {
			answered <- err
			return
		}
		for {
			ans = WorkerMessage{}
			if err := p.out.Decode(&ans); err != nil || ans.Ask == "" {
				answered <- err
				return
			}
			reply, err := json.Marshal(w.reply(ans.Ask))
			if err == nil {
				_, err = p.in.Write(append(reply, '\n'))
			}
			if err != nil {
				answered <- err
				return
			}
		}
	}()
	select {
	case <-ctx.Done():
		pid := p.cmd.Process.Pid
		p.kill()
		<-answered
		if w.observer != nil {
			w.observer.WorkerKilled(errors.Is(ctx.Err(), context.DeadlineExceeded))
		}
		return nil, fmt.Errorf("image worker pid %d killed: %w", pid, context.Cause(ctx))
	case err := <-answered:
		if err != nil {
			pid := p.cmd.Process.Pid
			p.in.Close()
			werr := p.cmd.Wait()
			if w.observer != nil {
				w.observer.WorkerDied()
			}
			return nil, fmt.Errorf("image worker pid %d died while decoding %s: %v", pid, req.Input, exitReason(werr, err))
		}
	}
	w.put(p)
	if ans.Error != nil {
		return nil, ans.Error
	}
	return ans.Result, nil
}

// reply answers a worker's question. Pictures rendered side by side share
// the CPUs out: each has as many as the CPUs divided among them, at least
// one, so that a worker among busy ones decodes on one libvips thread and
// holds one variant's buffers rather than one per CPU. The
// question comes again once the picture is decoded, by when the other jobs
// of a burst have been handed out too.
func (w *Workers) reply(question string) DaemonReply {
	var r DaemonReply
	if question == AskCPUs {
		r.CPUs = max(1, runtime.NumCPU()/max(1, int(w.rendering.Load())))
	}
	return r
}

// Close stops idle workers; busy ones stop when their job ends.
func (w *Workers) Close() {
	w.mu.Lock()
	idle := w.idle
	w.idle, w.closed = nil, true
	w.mu.Unlock()
	for _, p := range idle {
		p.stop()
	}
}

func exitReason(waitErr, readErr error) string {
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + ws.Signal().String()
		}
		return ee.Error()
	}
	return readErr.Error()
}

// rss is a process's resident size in bytes, or 0 if unknown.
func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
