package render

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

	"kiln/worker/image/renderjob"
	"kiln/worker/image/vips"
)

// workerSide is what a worker process brings to a render: the question to
// the daemon, and libvips' own thread count (VIPS_CONCURRENCY, from
// threads_per_worker), which a decode may exceed when CPUs are free.
type workerSide struct {
	askCPUs func() int
	threads int
}

// Serve is a worker process's main loop: it reads the daemon's requests
// (renderjob.WorkerRequest) from in, one per line, and writes each answer to
// out, until in ends.
func Serve(in io.Reader, out io.Writer) error {
	if err := limitWorkerMemory(); err != nil {
		return err
	}
	// Start libvips with the process's loader policy before any request:
	// the requests' own setting can then only agree with it.
	if err := vips.Start(os.Getenv(renderjob.EnvAllowUntrustedLoaders) == "1"); err != nil {
		return err
	}
	dec := json.NewDecoder(bufio.NewReader(in))
	enc := json.NewEncoder(out)
	// A worker that has had no job for a second hands what malloc kept
	// from the last one back to the kernel. A busy worker keeps it: giving
	// it back after every job costs each next job thousands of page faults
	// (about 5 % of its CPU time) to fault the same buffers in again.
	var trim *time.Timer
	// What malloc keeps is the high-water mark of the jobs since the last
	// trim. A picture with fewer CPUs to itself than one of those had (the
	// machine got busy) has it handed back first, or the worker would hold
	// the buffers of variants it no longer makes side by side for as long
	// as it stays busy.
	keptFor := 0 // the most CPUs a picture had since the last trim
	side := &workerSide{threads: vips.Concurrency()}
	side.askCPUs = func() int {
		n := 1 // if the daemon cannot say, it is gone, and the answer will not get through
		if err := enc.Encode(renderjob.WorkerMessage{Ask: renderjob.AskCPUs}); err == nil {
			var r renderjob.DaemonReply
			if err := dec.Decode(&r); err == nil {
				n = max(1, r.CPUs)
			}
		}
		if n < keptFor {
			vips.Trim()
			keptFor = 0
		}
		keptFor = max(keptFor, n)
		return n
	}
	for {
		var req renderjob.WorkerRequest
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
		var ans renderjob.WorkerMessage
		if req.Probe != nil {
			ans.Probe = probe(*req.Probe)
		} else if res, err := render(context.Background(), req.RenderRequest, side); err != nil {
			var re *renderjob.RenderError
			if !errors.As(err, &re) {
				re = &renderjob.RenderError{Msg: err.Error()}
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

// limitWorkerMemory sets the address-space limit the daemon passed in
// renderjob.EnvWorkerMemoryMax, if any.
func limitWorkerMemory() error {
	v := os.Getenv(renderjob.EnvWorkerMemoryMax)
	if v == "" {
		return nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", renderjob.EnvWorkerMemoryMax, v, err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
		return fmt.Errorf("set address-space limit: %w", err)
	}
	return nil
}
