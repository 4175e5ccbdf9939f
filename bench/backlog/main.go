// Command bench-backlog measures how kilnd behaves with a large backlog:
// memory over idle, start-to-READY time, `kilnctl status` latency, and the
// dispatch rate, at several backlog sizes, using the real kilnd and kilnctl.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"kiln/api"
	"kiln/e2e/instance"
	"kiln/worker"
)

func main() {
	bin := flag.String("bin", "../bin", "directory holding kilnd and kilnctl")
	sizes := flag.String("sizes", "1000,100000,1000000", "backlog sizes")
	measure := flag.Int("measure", 20000, "jobs drained to measure the dispatch rate")
	payloadSize := flag.Int("payload", 1024, "payload bytes per job")
	flag.Parse()

	payload, _ := json.Marshal(map[string]string{"data": strings.Repeat("x", *payloadSize-11)})
	var lines []string
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			fail(err)
		}
		line, err := run(*bin, n, *measure, payload)
		if err != nil {
			fail(fmt.Errorf("backlog %d: %w", n, err))
		}
		lines = append(lines, line)
	}
	fmt.Println()
	for _, l := range lines {
		fmt.Println(l)
	}
}

type kilnd struct{ *instance.Instance }

func start(bin string, kiln *instance.Instance) (*kilnd, error) {
	logf, err := os.OpenFile(filepath.Join(kiln.Dir, "kilnd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if err := kiln.Start(filepath.Join(bin, "kilnd"), logf); err != nil {
		return nil, fmt.Errorf("%w (see %s)", err, logf.Name())
	}
	return &kilnd{kiln}, nil
}

func (k *kilnd) stop() error {
	k.Signal(syscall.SIGTERM)
	return k.Wait()
}

// rss returns the process's resident memory and its anonymous part, in MB.
func (k *kilnd) rss() (total, anon float64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", k.PID()))
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			total = v / 1024
		case "RssAnon:":
			anon = v / 1024
		}
	}
	return total, anon
}

func run(bin string, backlog, measure int, payload []byte) (string, error) {
	dir, err := os.MkdirTemp("", "bench-backlog-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	kiln, err := instance.Prepare(dir, `[queues.bench]
concurrency = 256
keep_succeeded = "0s"
`)
	if err != nil {
		return "", err
	}
	k, err := start(bin, kiln)
	if err != nil {
		return "", err
	}
	idle, idleAnon := k.rss()
	ctx := context.Background()
	client := kiln.Client()
	if err := client.Pause(ctx, "bench"); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "backlog %d: submitting in batches\n", backlog)
	const batch = 5000
	for done := 0; done < backlog; {
		n := min(batch, backlog-done)
		reqs := make([]api.SubmitRequest, n)
		for i := range reqs {
			reqs[i] = api.SubmitRequest{Type: worker.NoopType, Queue: "bench", Payload: payload}
		}
		if _, err := client.SubmitBatch(ctx, reqs); err != nil {
			return "", err
		}
		done += n
	}
	full, fullAnon := k.rss()
	if err := k.stop(); err != nil {
		return "", fmt.Errorf("stop: %w", err)
	}

	k, err = start(bin, kiln)
	if err != nil {
		return "", err
	}
	defer k.stop()
	restarted, restartedAnon := k.rss()

	var statusTimes []time.Duration
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		out, err := exec.Command(filepath.Join(bin, "kilnctl"), "-socket", kiln.Socket, "status").CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("kilnctl status: %v: %s", err, out)
		}
		statusTimes = append(statusTimes, time.Since(t0))
	}
	sort.Slice(statusTimes, func(i, j int) bool { return statusTimes[i] < statusTimes[j] })
	statusMS := float64(statusTimes[len(statusTimes)/2]) / float64(time.Millisecond)

	drain := min(measure, backlog)
	t0 := time.Now()
	if err := client.Resume(ctx, "bench"); err != nil {
		return "", err
	}
	for {
		st, err := client.Status(ctx)
		if err != nil {
			return "", err
		}
		if q := st.Queues["bench"]; q != nil && q.Counts[worker.StateSucceeded] >= drain {
			break
		}
		time.Sleep(5 * time.Millisecond) // polling the count, not timing
	}
	rate := float64(drain) / time.Since(t0).Seconds()

	over := full - idle
	fmt.Fprintf(os.Stderr, "backlog %d: idle RSS %.1f MB (anon %.1f); with backlog %.1f MB (anon %.1f); after restart %.1f MB (anon %.1f); READY in %s; status %.1f ms; %.0f jobs/s\n",
		backlog, idle, idleAnon, full, fullAnon, restarted, restartedAnon, k.Ready.Round(time.Millisecond), statusMS, rate)
	return fmt.Sprintf("bench-backlog: backlog=%d rss_over_idle_mb=%.0f ready_ms=%d status_ms=%.0f jobs_per_s=%.0f",
		backlog, max(over, restarted-idle), k.Ready.Milliseconds(), statusMS, rate), nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-backlog:", err)
	os.Exit(1)
}
