// Command bench-queue measures durable job throughput and submit latency of
// kiln's local backend against RabbitMQ (quorum queue, publisher confirms,
// manual acks) and goqite (SQLite, synchronous=FULL), side by side in one
// run on this machine. Every system gets the same job count, the same 1 KiB
// payload and a no-op handler, with durability on.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"kiln/bench/internal/procstat"
)

var batchSize = flag.Int("batch", 100, "jobs per submit for the -batch systems (pipelined confirms)")

// batcher is a system that submits a batch of jobs in one call; measure
// uses it when batchSize is above one.
type batcher interface {
	batchSize() int
	submitBatch(ctx context.Context, payloads [][]byte) error
}

// system is one contender.
type system interface {
	name() string
	// submit enqueues one job and returns once it is durable.
	submit(ctx context.Context, payload []byte) error
	// waitDone returns once n jobs have been processed and acknowledged.
	waitDone(ctx context.Context, n int) error
	close() error
}

// pipelinedSystem is a system whose clients can keep many submits
// unconfirmed at once: a stream of jobs whose confirmations come back
// while later jobs are still being sent.
type pipelinedSystem interface {
	system
	// submitPipelined enqueues n jobs from one client with at most window
	// of them unconfirmed, and returns once all are durable.
	submitPipelined(ctx context.Context, payload []byte, n, window int) error
}

type result struct {
	system     string
	jobs       int
	jobsPerSec float64
	// CPU seconds per 1,000 jobs in the throughput run: the benchmark
	// process (the clients, and the whole of an in-process system) and the
	// server processes it started.
	cpuClient, cpuServer float64
	p50, p99             time.Duration // single submits, 1 submitter
	p50at32, p99a32      time.Duration // single submits, 32 submitters
}

func main() {
	jobs := flag.Int("jobs", 100000, "jobs per system for the throughput run")
	latencyJobs := flag.Int("latency-jobs", 2000, "submits per latency run")
	producers := flag.Int("producers", 32, "concurrent submitters in the throughput run")
	consumers := flag.Int("consumers", 256, "concurrent workers (prefetch for RabbitMQ)")
	goqiteConsumers := flag.Int("goqite-consumers", 32, "concurrent workers for goqite, whose pollers contend for SQLite's one writer: 32 was its best here")
	systems := flag.String("systems", "kiln,kiln-daemon,kiln-daemon-stream,kiln-daemon-sse,kiln-rabbitmq,kiln-rabbitmq-batch,kiln-rabbitmq-stream,kiln-rabbitmq-amqp,rabbitmq,rabbitmq-batch,rabbitmq-pipelined,goqite", "which systems to run")
	streams := flag.Int("streams", 4, "concurrent clients of the pipelined systems")
	window := flag.Int("window", 256, "unconfirmed jobs per client of the pipelined systems")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	payload := make([]byte, 1024)
	rand.Read(payload)
	for i := range payload { // printable, so that every system stores it as is
		payload[i] = 'a' + payload[i]%26
	}
	payload = []byte(fmt.Sprintf(`{"data":%q}`, payload[:1024-11]))

	// A system that fails is reported and skipped: the others' figures
	// still print, and the exit status says that one failed.
	var results []result
	var failed []string
	for _, name := range splitComma(*systems) {
		dir, err := os.MkdirTemp("", "bench-queue-"+name+"-")
		if err != nil {
			fail(err)
		}
		c := *consumers
		if name == "goqite" {
			c = *goqiteConsumers
		}
		open := func() (system, error) { return openSystem(name, dir, c) }
		r, err := measure(name, open, payload, *jobs, *latencyJobs, *producers, *streams, *window)
		os.RemoveAll(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-queue: %s failed, skipping it: %v\n", name, err)
			failed = append(failed, name)
			continue
		}
		results = append(results, r)
	}
	report(results)
	if len(failed) > 0 {
		fail(fmt.Errorf("failed: %v (the figures above are the other systems')", failed))
	}
}

func openSystem(name, dir string, consumers int) (system, error) {
	switch name {
	case "kiln":
		return newKiln(dir, consumers)
	case "rabbitmq":
		return newRabbit(dir, consumers, 1)
	case "rabbitmq-batch":
		return newRabbit(dir, consumers, *batchSize)
	case "kiln-rabbitmq":
		return newKilndRabbit(dir, consumers, 1)
	case "kiln-rabbitmq-batch":
		return newKilndRabbit(dir, consumers, *batchSize)
	case "kiln-rabbitmq-stream":
		s, err := newKilndRabbit(dir, consumers, 1)
		if err != nil {
			return nil, err
		}
		return streamed(s, s.(*kilndRabbitSystem).client, name), nil
	case "kiln-rabbitmq-amqp":
		return newKilndRabbitAMQP(dir, consumers)
	case "goqite":
		return newGoqite(dir, consumers)
	case "kiln-daemon":
		return newKilnd(name, dir, consumers)
	case "kiln-daemon-stream":
		s, err := newKilnd(name, dir, consumers)
		if err != nil {
			return nil, err
		}
		return streamed(s, s.(*kilndSystem).client, name), nil
	case "rabbitmq-pipelined":
		return newRabbitPipelined(dir, consumers)
	case "kiln-daemon-sse":
		return newKilndWithSubscriber(dir, consumers)
	}
	return nil, fmt.Errorf("unknown system %q", name)
}

func measure(name string, open func() (system, error), payload []byte, jobs, latencyJobs, producers, streams, window int) (result, error) {
	ctx := context.Background()
	r := result{system: name, jobs: jobs}

	s, err := open()
	if err != nil {
		return r, err
	}
	defer s.close()
	self := os.Getpid()
	clientBefore := ownCPU(self)
	totalBefore := procstat.TreeCPU(self)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, max(producers, streams))
	if ps, ok := s.(pipelinedSystem); ok {
		fmt.Fprintf(os.Stderr, "%s: throughput, %d jobs, %d clients with %d unconfirmed each\n", name, jobs, streams, window)
		for c := 0; c < streams; c++ {
			n := jobs / streams
			if c < jobs%streams {
				n++
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := ps.submitPipelined(ctx, payload, n, window); err != nil {
					errs <- err
				}
			}()
		}
	} else {
		fmt.Fprintf(os.Stderr, "%s: throughput, %d jobs, %d submitters\n", name, jobs, producers)
		var next atomic.Int64
		for p := 0; p < producers; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if b, ok := s.(batcher); ok && b.batchSize() > 1 {
					for {
						end := next.Add(int64(b.batchSize()))
						n := min(int64(b.batchSize()), int64(jobs)-(end-int64(b.batchSize())))
						if n <= 0 {
							return
						}
						batch := make([][]byte, n)
						for i := range batch {
							batch[i] = payload
						}
						if err := b.submitBatch(ctx, batch); err != nil {
							errs <- err
							return
						}
					}
				}
				for next.Add(1) <= int64(jobs) {
					if err := s.submit(ctx, payload); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return r, err
	}
	if err := s.waitDone(ctx, jobs); err != nil {
		return r, err
	}
	r.jobsPerSec = float64(jobs) / time.Since(start).Seconds()
	clientAfter := ownCPU(self)
	totalAfter := procstat.TreeCPU(self)
	r.cpuClient = (clientAfter - clientBefore) * 1000 / float64(jobs)
	r.cpuServer = max(0, totalAfter-totalBefore-(clientAfter-clientBefore)) * 1000 / float64(jobs)

	done := jobs
	for _, conc := range []int{1, 32} {
		fmt.Fprintf(os.Stderr, "%s: submit latency, %d submits, %d submitters\n", name, latencyJobs, conc)
		lat, err := latencies(ctx, s, payload, latencyJobs, conc)
		if err != nil {
			return r, err
		}
		done += latencyJobs
		p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
		if conc == 1 {
			r.p50, r.p99 = p50, p99
		} else {
			r.p50at32, r.p99a32 = p50, p99
		}
	}
	return r, s.waitDone(ctx, done)
}

func latencies(ctx context.Context, s system, payload []byte, n, conc int) ([]time.Duration, error) {
	out := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for c := 0; c < conc; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				t := time.Now()
				if err := s.submit(ctx, payload); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				out[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return nil, err
	}
	return out, nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func report(results []result) {
	fmt.Println()
	fmt.Printf("%-19s %8s %9s %8s %8s %10s %10s %17s\n", "system", "jobs", "jobs/s", "p50 ms", "p99 ms", "p50@32 ms", "p99@32 ms", "CPU s/1k jobs")
	for _, r := range results {
		fmt.Printf("%-19s %8d %9.0f %8s %8s %10s %10s %17s\n", r.system, r.jobs, r.jobsPerSec, ms(r.p50), ms(r.p99), ms(r.p50at32), ms(r.p99a32),
			fmt.Sprintf("%.3f (%.3f+%.3f)", r.cpuClient+r.cpuServer, r.cpuClient, r.cpuServer))
	}
	fmt.Println("(CPU: benchmark process + server processes; an in-process system counts all in the first)")
	byName := map[string]result{}
	for _, r := range results {
		byName[r.system] = r
	}
	for _, pair := range [][2]string{{"kiln-rabbitmq", "rabbitmq"}, {"kiln-rabbitmq-batch", "rabbitmq-batch"}, {"kiln-rabbitmq-stream", "rabbitmq-pipelined"}, {"kiln-rabbitmq-amqp", "rabbitmq-pipelined"}} {
		k, kok := byName[pair[0]]
		p, pok := byName[pair[1]]
		if kok && pok && p.jobsPerSec > 0 {
			fmt.Printf("%s / %s: %.2fx jobs/s (overhead %.0f%%)\n", pair[0], pair[1], k.jobsPerSec/p.jobsPerSec, 100*(1-k.jobsPerSec/p.jobsPerSec))
		}
	}
	for _, mine := range []string{"kiln", "kiln-daemon", "kiln-daemon-stream"} {
		k, ok := byName[mine]
		if !ok {
			continue
		}
		for _, peer := range []string{"rabbitmq", "rabbitmq-pipelined", "goqite"} {
			if p, ok := byName[peer]; ok && p.jobsPerSec > 0 {
				fmt.Printf("%s / %s: %.2fx jobs/s\n", mine, peer, k.jobsPerSec/p.jobsPerSec)
			}
		}
	}
	fmt.Println()
	for _, r := range results {
		fmt.Printf("bench-queue: system=%s jobs=%d jobs_per_s=%.0f p50_ms=%s p99_ms=%s p99_32_ms=%s cpu_s_per_1k_jobs=%.3f client_cpu_s_per_1k=%.3f server_cpu_s_per_1k=%.3f\n",
			r.system, r.jobs, r.jobsPerSec, ms(r.p50), ms(r.p99), ms(r.p99a32), r.cpuClient+r.cpuServer, r.cpuClient, r.cpuServer)
	}
}

// ownCPU is the CPU seconds of this process (the clients, and the whole of
// an in-process system), with any children it has reaped.
func ownCPU(pid int) float64 {
	t, err := procstat.ReadTimes(pid)
	if err != nil {
		fail(err)
	}
	return t.WithReaped()
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-queue:", err)
	os.Exit(1)
}
