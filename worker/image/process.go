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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"kiln/worker/image/vips"
)

// Pictures from strangers are decoded in worker processes: kilnd re-executed
// with -image-worker, one JSON request per line on its stdin, one JSON
// answer per line on its stdout. A decoder that hangs is killed on the job's
// timeout; one that crashes takes only its attempt with it; libvips' memory
// never accumulates in the daemon, and workers are recycled after a number
// of jobs or above a resident size.

// EnvWorkerMemoryMax carries the worker's address-space limit in bytes.
const EnvWorkerMemoryMax = "KILN_IMAGE_WORKER_MEMORY_MAX"

type workerAnswer struct {
	Result *Result      `json:"result,omitempty"`
	Error  *RenderError `json:"error,omitempty"`
}

// ServeWorker is a worker process's main loop.
func ServeWorker(in io.Reader, out io.Writer) error {
	if v := os.Getenv(EnvWorkerMemoryMax); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%s=%q: %w", EnvWorkerMemoryMax, v, err)
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
			return fmt.Errorf("set address-space limit: %w", err)
		}
	}
	dec := json.NewDecoder(bufio.NewReader(in))
	enc := json.NewEncoder(out)
	// A worker that has had no job for a second hands what malloc kept
	// from the last one back to the kernel. A busy worker keeps it: giving
	// it back after every job costs each next job thousands of page faults
	// (about 5 % of its CPU time) to fault the same buffers in again.
	var trim *time.Timer
	for {
		var req RenderRequest
		err := dec.Decode(&req)
		if trim != nil {
			trim.Stop()
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the daemon closed our stdin: recycle
			}
			return fmt.Errorf("read request: %w", err)
		}
		var ans workerAnswer
		res, err := Render(context.Background(), req)
		if err != nil {
			var re *RenderError
			if !errors.As(err, &re) {
				re = &RenderError{Msg: err.Error()}
			}
			ans.Error = re
		} else {
			res.WorkerPID = os.Getpid()
			ans.Result = res
		}
		if err := enc.Encode(ans); err != nil {
			return fmt.Errorf("write answer: %w", err)
		}
		trim = time.AfterFunc(time.Second, vips.Trim)
	}
}

// Workers is the daemon's pool of worker processes; it implements Renderer.
type Workers struct {
	command      []string
	env          []string
	recycleAfter int
	maxRSS       ByteSize

	mu     sync.Mutex
	idle   []*workerProcess
	closed bool
}

type workerProcess struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *json.Decoder
	jobs int
}

// NewWorkers returns a pool that starts workers with command (e.g. the
// kilnd binary and "-image-worker").
func NewWorkers(command []string, limits Limits) *Workers {
	// glibc gives each thread its own malloc arena, which libvips' threads
	// leave mostly empty: two arenas cut a worker's resident size by a
	// third at no cost in speed here.
	env := append(os.Environ(), "MALLOC_ARENA_MAX=2")
	if limits.WorkerMemoryMax > 0 {
		env = append(env, fmt.Sprintf("%s=%d", EnvWorkerMemoryMax, int64(limits.WorkerMemoryMax)))
	}
	if limits.ThreadsPerWorker > 0 {
		// libvips reads its thread count from here at start.
		env = append(env, fmt.Sprintf("VIPS_CONCURRENCY=%d", limits.ThreadsPerWorker))
	}
	return &Workers{command: command, env: env, recycleAfter: limits.RecycleAfter, maxRSS: limits.MaxWorkerRSS}
}

func (w *Workers) spawn() (*workerProcess, error) {
	cmd := exec.Command(w.command[0], w.command[1:]...)
	cmd.Env = w.env
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
		return nil, fmt.Errorf("start image worker: %w", err)
	}
	return &workerProcess{cmd: cmd, in: in, out: json.NewDecoder(bufio.NewReader(out))}, nil
}

func (w *Workers) get() (*workerProcess, error) {
	w.mu.Lock()
	if n := len(w.idle); n > 0 {
		p := w.idle[n-1]
		w.idle = w.idle[:n-1]
		w.mu.Unlock()
		return p, nil
	}
	w.mu.Unlock()
	return w.spawn()
}

func (w *Workers) put(p *workerProcess) {
	p.jobs++
	recycle := (w.recycleAfter > 0 && p.jobs >= w.recycleAfter) || (w.maxRSS > 0 && rss(p.cmd.Process.Pid) > int64(w.maxRSS))
	w.mu.Lock()
	if recycle || w.closed {
		w.mu.Unlock()
		p.stop()
		return
	}
	w.idle = append(w.idle, p)
	w.mu.Unlock()
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

// Render implements Renderer.
func (w *Workers) Render(ctx context.Context, req RenderRequest) (*Result, error) {
	p, err := w.get()
	if err != nil {
		return nil, err
	}
	buf, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	answered := make(chan error, 1)
	var ans workerAnswer
	go func() {
		if _, err := p.in.Write(append(buf, '\n')); err != nil {
			answered <- err
			return
		}
		answered <- p.out.Decode(&ans)
	}()
	select {
	case <-ctx.Done():
		pid := p.cmd.Process.Pid
		p.kill()
		<-answered
		return nil, fmt.Errorf("image worker pid %d killed: %w", pid, context.Cause(ctx))
	case err := <-answered:
		if err != nil {
			pid := p.cmd.Process.Pid
			p.in.Close()
			werr := p.cmd.Wait()
			return nil, fmt.Errorf("image worker pid %d died while decoding %s: %v", pid, req.Input, exitReason(werr, err))
		}
	}
	w.put(p)
	if ans.Error != nil {
		return nil, ans.Error
	}
	return ans.Result, nil
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
