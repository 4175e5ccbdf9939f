package image

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// probeTimeout bounds a probe: a worker's start and a tiny picture in each
// format take milliseconds, and a check must not hang on an encoder that
// does.
const probeTimeout = 30 * time.Second

// probeWorker starts the worker binary as a worker process under ps is
// started (its environment, its memory limit, its loader policy), asks it
// what its libvips can do with formats, and stops it. The error names the
// binary, so that a worker that is missing, cannot run or answers nonsense
// is said as such.
func probeWorker(binary string, ps processSettings, formats []string) (*ProbeAnswer, error) {
	fail := func(format string, args ...any) (*ProbeAnswer, error) {
		return nil, fmt.Errorf("probe image worker %s: %s", binary, fmt.Sprintf(format, args...))
	}
	req, err := json.Marshal(WorkerRequest{Probe: &ProbeRequest{Formats: formats}})
	if err != nil {
		return fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary)
	// A worker built with the race detector (the tests' are) sleeps a
	// second as it exits, so that its other threads' reports come out: a
	// probe's one request has none to wait for, and every check of a
	// race-built kilnd would wait that second. Other builds ignore GORACE.
	cmd.Env = append(workerEnv(ps), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	// One request, then the end of stdin: the worker answers and exits.
	cmd.Stdin = bytes.NewReader(append(req, '\n'))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return fail("no answer in %s", probeTimeout)
	}
	var ans WorkerMessage
	line, _, _ := bytes.Cut(stdout.Bytes(), []byte("\n"))
	if err := json.Unmarshal(line, &ans); err == nil && ans.Probe != nil && runErr == nil {
		return ans.Probe, nil
	}
	msg := "no answer"
	switch {
	case errors.Is(runErr, exec.ErrNotFound), errors.Is(runErr, syscall.ENOENT):
		msg = "not found"
	case runErr != nil:
		msg = runErr.Error()
	case ans.Error != nil:
		msg = ans.Error.Msg
	}
	if tail := lastLines(stderr.String() + stdout.String()); tail != "" {
		msg += ": " + tail
	}
	return fail("%s", msg)
}

// lastLines is the end of a process's output, on one line, for an error.
func lastLines(out string) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	s := strings.Join(lines, "; ")
	return s[max(0, len(s)-500):]
}
