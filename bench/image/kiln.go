package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"kiln/api"
	"kiln/bench/image/imagejob"
	"kiln/bench/internal/procstat"
	"kiln/e2e/instance"
	"kiln/worker"
	"kiln/worker/image/imageapi"
)

// kilnRun is one kilnd with the benchmark's pipelines and one queue of
// the given concurrency (its image workers), reading pictures from the
// directories of the pictures it is given.
type kilnRun struct {
	inst *instance.Instance
	out  string
}

func startKiln(kilnd, dir string, workers int, pictures []string) (*kilnRun, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[queues.images]\nconcurrency = %d\n", workers)
	// kilnd reads pictures only under allowed_input_roots.
	var roots []string
	for _, p := range pictures {
		abs, _ := filepath.Abs(filepath.Dir(p))
		if !slices.Contains(roots, abs) {
			roots = append(roots, abs)
		}
	}
	fmt.Fprintf(&cfg, "[images]\nallowed_input_roots = [")
	for i, r := range roots {
		if i > 0 {
			cfg.WriteString(", ")
		}
		fmt.Fprintf(&cfg, "%q", r)
	}
	cfg.WriteString("]\n")
	out := filepath.Join(dir, "out")
	for _, name := range jobNames {
		fmt.Fprintf(&cfg, "[pipelines.%s]\nqueue = \"images\"\noutput_dir = %q\n", name, filepath.Join(out, name))
		for _, v := range jobs[name] {
			fmt.Fprintf(&cfg, "[[pipelines.%s.variants]]\nname = %q\nwidth = %d\nheight = %d\nfit = %q\ngravity = %q\nformat = %q\nquality = %d\n",
				name, v.Name, v.Width, v.Height, v.Fit, v.Gravity, v.Format, v.Quality)
			if v.Effect != "" {
				fmt.Fprintf(&cfg, "effect = %q\n", v.Effect)
			}
		}
	}
	inst, err := instance.Prepare(dir, cfg.String())
	if err != nil {
		return nil, err
	}
	if err := inst.Start(kilnd, os.Stderr); err != nil {
		return nil, err
	}
	return &kilnRun{inst: inst, out: out}, nil
}

func (k *kilnRun) stop() {
	k.inst.Signal(os.Interrupt)
	k.inst.Wait()
}

// submit queues one job per picture at once and waits for all of them.
func (k *kilnRun) submit(job string, pictures []string) ([]*api.Job, error) {
	ctx := context.Background()
	c := k.inst.Client()
	reqs := make([]api.SubmitRequest, len(pictures))
	for i, p := range pictures {
		abs, _ := filepath.Abs(p)
		reqs[i] = imageapi.Request(job, abs)
	}
	js, err := c.SubmitBatch(ctx, reqs)
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	done := make([]*api.Job, len(js))
	for i, j := range js {
		for {
			got, err := c.Job(ctx, j.ID, time.Minute)
			if err != nil {
				return nil, fmt.Errorf("wait for job %s: %w", j.ID, err)
			}
			if got.State == worker.StateSucceeded {
				done[i] = got
				break
			}
			if got.State == worker.StateDead || got.State == worker.StateCancelled {
				return nil, fmt.Errorf("job %s on %s: %s: %s", j.ID, pictures[i], got.State, got.LastError)
			}
		}
	}
	return done, nil
}

// cpu is the CPU time of kilnd and every process it started, living or
// reaped.
// The daemon's own share is returned apart.
func (k *kilnRun) cpu() (all, daemon time.Duration) {
	pid := k.inst.PID()
	f := statFields(pid)
	if len(f) < 17 {
		return 0, 0
	}
	own := atoi(f[13]) + atoi(f[14])
	ticks := own + atoi(f[15]) + atoi(f[16])
	for _, c := range children(pid) {
		if g := statFields(c); len(g) >= 15 {
			ticks += atoi(g[13]) + atoi(g[14])
		}
	}
	tick := time.Second / 100 // USER_HZ
	return time.Duration(ticks) * tick, time.Duration(own) * tick
}

// peakRSS adds the high-water resident sizes of kilnd and its workers.
func (k *kilnRun) peakRSS() int64 {
	pid := k.inst.PID()
	total := imagejob.HWM(pid)
	for _, c := range children(pid) {
		total += imagejob.HWM(c)
	}
	return total
}

// statFields are /proc/PID/stat's fields after the command name.
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	// f[n] is field n+1 of proc(5): pid and comm come before the ')'
	return append([]string{"", ""}, strings.Fields(s[i+1:])...)
}

func atoi(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(c); len(f) > 3 && atoi(f[3]) == int64(pid) {
			out = append(out, c)
		}
	}
	return out
}

// kilnFigures is what one kilnd run measured.
type kilnFigures struct {
	picturesPerS, cpuMs float64
	daemonCPUMs         float64 // kilnd's own part of cpuMs
	peakRSSMiB          float64 // the processes' own peaks, added up
	sampledRSSMiB       float64 // the largest total seen at one moment
	sampledPSSMiB       float64 // the same in PSS
	p50, p90            float64
	stages              map[string]float64 // mean per picture, idle
}

// benchKiln measures a job on a fresh kilnd with the given number of
// workers: with idle > 0, first that many pictures one at a time (the
// time a user waits, from submit to the job's end), then all pictures at
// once for throughput, CPU and memory.
func benchKiln(kilnd, dir, job string, workers int, idle []string, pictures []string) (kilnFigures, error) {
	var f kilnFigures
	k, err := startKiln(kilnd, dir, workers, append(slices.Clone(idle), pictures...))
	if err != nil {
		return f, err
	}
	defer k.stop()
	defer os.RemoveAll(k.out)
	// Warm up as many workers as run at once: libvips starts with the
	// first picture.
	if _, err := k.submit(job, pictures[:workers]); err != nil {
		return f, err
	}
	if len(idle) > 0 {
		var times []time.Duration
		f.stages = map[string]float64{}
		for _, p := range idle {
			t := time.Now()
			js, err := k.submit(job, []string{p})
			if err != nil {
				return f, err
			}
			d := time.Since(t)
			times = append(times, d)
			var res imageapi.Result
			if err := json.Unmarshal(js[0].Result, &res); err != nil {
				return f, fmt.Errorf("job result: %w", err)
			}
			addStages(f.stages, &res, d, len(idle))
		}
		f.p50, f.p90 = imagejob.Percentile(times, 50), imagejob.Percentile(times, 90)
	}
	cpu0, daemon0 := k.cpu()
	sampler := procstat.SampleTree(k.inst.PID(), pssPeriod)
	t0 := time.Now()
	_, err = k.submit(job, pictures)
	wall := time.Since(t0)
	peak := sampler.Stop()
	f.sampledRSSMiB, f.sampledPSSMiB = mib(peak.RSS), mib(peak.PSS)
	if err != nil {
		return f, err
	}
	f.picturesPerS = float64(len(pictures)) / wall.Seconds()
	cpu1, daemon1 := k.cpu()
	f.cpuMs = float64(cpu1-cpu0) / float64(time.Millisecond) / float64(len(pictures))
	f.daemonCPUMs = float64(daemon1-daemon0) / float64(time.Millisecond) / float64(len(pictures))
	f.peakRSSMiB = float64(k.peakRSS()) / (1 << 20)
	return f, nil
}

// addStages adds one job's stage times, as a share of n jobs. What the
// worker did not account for (submit, queue, the hand-over to the worker
// process and back, the job's own durable state changes) is daemon_ipc.
func addStages(into map[string]float64, res *imageapi.Result, waited time.Duration, n int) {
	add := func(k string, v float64) { into[k] += v / float64(n) }
	add("worker_ms", float64(res.ElapsedMS))
	add("daemon_ipc_ms", float64(waited.Milliseconds()-res.ElapsedMS))
	if s := res.Stages; s != nil {
		add("read_ms", s.ReadMS)
		add("decode_ms", s.DecodeMS)
		add("resize_ms", s.ResizeMS)
		for name, v := range s.EncodeMS {
			add("encode_"+name+"_ms", v)
		}
		add("write_fsync_ms", s.WriteMS)
	} else {
		add("decode_ms", float64(res.DecodeMS))
	}
}
