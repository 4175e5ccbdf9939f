// Command bench-queue measures durable job throughput and submit latency of
// kiln's local backend against RabbitMQ (quorum queue, publisher confirms,
// manual acks) and goqite (SQLite, synchronous=FULL), side by side in one
// run on this machine. Every system gets the same job count, the same 1 KiB
// payload and a no-op handler, with durability on.
//
// The kiln-rabbitmq systems can run on several kilnd processes sharing one
// broker (-hosts 1,2,4: each count measured in turn), with the CPU of the
// broker and of each kilnd told apart; -runs repeats every measurement and
// prints the medians.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"kiln/bench/internal/procstat"
	"kiln/e2e/instance"
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

// servers are the processes of a system whose CPU is told apart: the
// broker's Erlang VM (0 when the system has no broker), each kilnd, host 1
// first, and the raw RabbitMQ peers' consumer process (0 for the others).
type servers struct {
	brokerVM int
	kilnds   []*instance.Instance
	consumer int
}

// serverSystem is a system that runs such processes.
type serverSystem interface {
	servers() servers
}

// serversOf is what s runs, or nothing for an in-process system.
func serversOf(s system) servers {
	if ss, ok := s.(serverSystem); ok {
		return ss.servers()
	}
	return servers{}
}

type result struct {
	system string
	hosts  int // kilnd processes (0: the system runs none)
	runs   int // measurements this result is the median of
	jobs   int
	// jobsPerSec is the median of the runs, slowest and fastest their
	// range.
	jobsPerSec, slowest, fastest float64
	// CPU seconds per 1,000 jobs in the throughput run, from /proc: the
	// benchmark process (the clients, and the whole of an in-process
	// system), the broker's Erlang VM, the kilnd processes summed, and
	// everything (the benchmark process and every process below it:
	// those, and the node's script and epmd); for the raw RabbitMQ peers,
	// their consumer process too.
	cpuBench, cpuBroker, cpuKilnd, cpuConsumer, cpuAll float64
	hasBroker, hasConsumer                             bool
	// Per kilnd, host 1 first: its CPU seconds per 1,000 of all the jobs
	// (they add up to cpuKilnd), and the jobs it ran to success in the
	// throughput run (succeeded_since_start of its status).
	hostCPU, hostRan []float64
	// rerun is how many more jobs the hosts ran than there were: jobs the
	// broker delivered again after a host lost them before the ack (the
	// most of any run).
	rerun int
	// commits is host 1's store commits per 1,000 jobs in the throughput
	// run, on the local backend (0 where it has none): what one fdatasync
	// pair is shared by.
	commits         float64
	p50, p99        time.Duration // single submits, 1 submitter
	p50at32, p99a32 time.Duration // single submits, 32 submitters
}

// serverCPU is what the processes that run the jobs cost per 1,000 jobs:
// the broker, every kilnd and the raw peers' consumer process.
func (r result) serverCPU() float64 { return r.cpuBroker + r.cpuKilnd + r.cpuConsumer }

// sharesBroker says whether a system is kilnd on the rabbitmq backend,
// which -hosts runs on several kilnd processes.
func sharesBroker(name string) bool {
	switch name {
	case "kiln-rabbitmq", "kiln-rabbitmq-batch", "kiln-rabbitmq-stream", "kiln-rabbitmq-amqp":
		return true
	}
	return false
}

// measurement is one system at one host count.
type measurement struct {
	system string
	hosts  int // for the kiln-rabbitmq systems; 0 for the others
}

func (m measurement) String() string {
	if m.hosts == 0 {
		return m.system
	}
	return fmt.Sprintf("%s (%s)", m.system, hostsText(m.hosts))
}

func hostsText(n int) string {
	if n == 1 {
		return "1 host"
	}
	return fmt.Sprintf("%d hosts", n)
}

func main() {
	jobs := flag.Int("jobs", 100000, "jobs per system for the throughput run")
	latencyJobs := flag.Int("latency-jobs", 2000, "submits per latency run")
	producers := flag.Int("producers", 32, "concurrent submitters in the throughput run")
	consumers := flag.Int("consumers", 256, "concurrent workers (prefetch for RabbitMQ)")
	goqiteConsumers := flag.Int("goqite-consumers", 32, "concurrent workers for goqite, whose pollers contend for SQLite's one writer: 32 was its best here")
	systems := flag.String("systems", "kiln,kiln-noevents,kiln-daemon,kiln-daemon-noevents,kiln-daemon-stream,kiln-daemon-stream-noevents,kiln-daemon-sse,kiln-rabbitmq,kiln-rabbitmq-batch,kiln-rabbitmq-stream,kiln-rabbitmq-amqp,rabbitmq,rabbitmq-batch,rabbitmq-pipelined,goqite", "which systems to run")
	hostsFlag := flag.String("hosts", "1", "kilnd processes sharing the broker for the kiln-rabbitmq systems: a list of counts, each measured (e.g. 1,2,4); jobs are submitted through the first host")
	runs := flag.Int("runs", 1, "measurements of each system (and host count); the figures printed are their medians")
	streams := flag.Int("streams", 4, "concurrent clients of the pipelined systems")
	window := flag.Int("window", 256, "unconfirmed jobs per client of the pipelined systems")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *rawConsumerURL != "" {
		if err := runRawConsumer(*rawConsumerURL, rabbitQueue, *consumers); err != nil {
			fail(err)
		}
		return
	}
	hostCounts, err := parseCounts(*hostsFlag)
	if err != nil {
		fail(fmt.Errorf("-hosts %q: %w", *hostsFlag, err))
	}
	if *runs < 1 {
		fail(fmt.Errorf("-runs %d: want at least 1", *runs))
	}
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

	// The raw RabbitMQ peers and the other systems do not depend on the
	// host count: they are measured once per run.
	var plan []measurement
	for _, name := range splitComma(*systems) {
		if !sharesBroker(name) {
			plan = append(plan, measurement{system: name})
			continue
		}
		for _, n := range hostCounts {
			plan = append(plan, measurement{system: name, hosts: n})
		}
	}

	// A system that fails is reported and skipped: the others' figures
	// still print, and the exit status says that one failed. The runs
	// take turns (each round measures everything once), so that a slow
	// spell of the machine falls on all systems rather than on the runs
	// of one.
	measured := map[measurement][]result{}
	failed := map[measurement]bool{}
	for run := 1; run <= *runs; run++ {
		for _, m := range plan {
			if failed[m] {
				continue
			}
			dir, err := os.MkdirTemp("", "bench-queue-"+m.system+"-")
			if err != nil {
				fail(err)
			}
			c := *consumers
			if m.system == "goqite" {
				c = *goqiteConsumers
			}
			label := m.String()
			if *runs > 1 {
				label = fmt.Sprintf("%s, run %d of %d", m, run, *runs)
			}
			open := func() (system, error) { return openSystem(m.system, dir, c, max(m.hosts, 1)) }
			r, err := measure(m.system, label, open, payload, *jobs, *latencyJobs, *producers, *streams, *window)
			os.RemoveAll(dir)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench-queue: %s failed, skipping it: %v\n", label, err)
				failed[m] = true
				continue
			}
			measured[m] = append(measured[m], r)
		}
	}
	var results []result
	var failedNames []string
	for _, m := range plan {
		if failed[m] {
			failedNames = append(failedNames, m.String())
			continue
		}
		results = append(results, median(measured[m]))
	}
	report(results)
	if len(failedNames) > 0 {
		fail(fmt.Errorf("failed: %v (the figures above are the other systems')", failedNames))
	}
}

// parseCounts reads a comma-separated list of positive counts.
func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range splitComma(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a count of at least 1", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no count")
	}
	return out, nil
}

func openSystem(name, dir string, consumers, hosts int) (system, error) {
	switch name {
	case "kiln":
		return newKiln(name, dir, consumers, true)
	case "kiln-noevents":
		return newKiln(name, dir, consumers, false)
	case "rabbitmq":
		return newRabbit(dir, consumers, 1)
	case "rabbitmq-batch":
		return newRabbit(dir, consumers, *batchSize)
	case "kiln-rabbitmq":
		return newKilndRabbit(dir, consumers, 1, hosts)
	case "kiln-rabbitmq-batch":
		return newKilndRabbit(dir, consumers, *batchSize, hosts)
	case "kiln-rabbitmq-stream":
		s, err := newKilndRabbit(dir, consumers, 1, hosts)
		if err != nil {
			return nil, err
		}
		return streamed(s, s.(*kilndRabbitSystem).client, name), nil
	case "kiln-rabbitmq-amqp":
		return newKilndRabbitAMQP(dir, consumers, hosts)
	case "goqite":
		return newGoqite(dir, consumers)
	case "kiln-daemon":
		return newKilnd(name, dir, consumers, true)
	case "kiln-daemon-noevents":
		return newKilnd(name, dir, consumers, false)
	case "kiln-daemon-stream":
		s, err := newKilnd(name, dir, consumers, true)
		if err != nil {
			return nil, err
		}
		return streamed(s, s.(*kilndSystem).client, name), nil
	case "kiln-daemon-stream-noevents":
		s, err := newKilnd(name, dir, consumers, false)
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

// cpuReading is the CPU seconds spent so far by the processes of a
// system, from /proc.
type cpuReading struct {
	bench, all, broker, consumer float64
	kilnds                       []float64
}

func readCPU(srv servers) (cpuReading, error) {
	self := os.Getpid()
	bench, err := procstat.ReadTimes(self)
	if err != nil {
		return cpuReading{}, fmt.Errorf("benchmark process: %w", err)
	}
	// The benchmark's own figure counts the children it has reaped, as the
	// tree's does, so that bench is a part of all.
	c := cpuReading{bench: bench.WithReaped(), all: procstat.TreeCPU(self)}
	if srv.brokerVM != 0 {
		t, err := procstat.OwnCPU(srv.brokerVM)
		if err != nil {
			return c, fmt.Errorf("broker VM: %w", err)
		}
		c.broker = t
	}
	if srv.consumer != 0 {
		t, err := procstat.OwnCPU(srv.consumer)
		if err != nil {
			return c, fmt.Errorf("raw consumer process: %w", err)
		}
		c.consumer = t
	}
	for i, k := range srv.kilnds {
		t, err := procstat.OwnCPU(k.PID())
		if err != nil {
			return c, fmt.Errorf("kilnd host %d: %w", i+1, err)
		}
		c.kilnds = append(c.kilnds, t)
	}
	return c, nil
}

// readCommits is how many store commits host 1 has made since it started
// (0 for a system without kilnd, or on a backend with no local store).
func readCommits(srv servers) (float64, error) {
	if len(srv.kilnds) == 0 {
		return 0, nil
	}
	scrape, err := instance.Scrape(srv.kilnds[0].Socket)
	if err != nil {
		return 0, err
	}
	v, ok := instance.MetricValue(scrape, "kiln_store_commit_changes_count")
	if !ok {
		return 0, nil
	}
	return strconv.ParseFloat(v, 64)
}

// readRan is how many jobs each kilnd has run to success since it started.
func readRan(ctx context.Context, srv servers) ([]int64, error) {
	var out []int64
	for i, k := range srv.kilnds {
		st, err := k.Client().Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("status of kilnd host %d: %w", i+1, err)
		}
		out = append(out, st.Succeeded)
	}
	return out, nil
}

func measure(name, label string, open func() (system, error), payload []byte, jobs, latencyJobs, producers, streams, window int) (result, error) {
	ctx := context.Background()
	r := result{system: name, jobs: jobs, runs: 1}

	s, err := open()
	if err != nil {
		return r, err
	}
	defer s.close()
	srv := serversOf(s)
	r.hosts, r.hasBroker, r.hasConsumer = len(srv.kilnds), srv.brokerVM != 0, srv.consumer != 0
	// The status requests are outside the timed part, and so is their CPU.
	ranBefore, err := readRan(ctx, srv)
	if err != nil {
		return r, err
	}
	before, err := readCPU(srv)
	if err != nil {
		return r, err
	}
	commitsBefore, err := readCommits(srv)
	if err != nil {
		return r, err
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, max(producers, streams))
	if ps, ok := s.(pipelinedSystem); ok {
		fmt.Fprintf(os.Stderr, "%s: throughput, %d jobs, %d clients with %d unconfirmed each\n", label, jobs, streams, window)
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
		fmt.Fprintf(os.Stderr, "%s: throughput, %d jobs, %d submitters\n", label, jobs, producers)
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
	r.slowest, r.fastest = r.jobsPerSec, r.jobsPerSec
	after, err := readCPU(srv)
	if err != nil {
		return r, err
	}
	ranAfter, err := readRan(ctx, srv)
	if err != nil {
		return r, err
	}
	commitsAfter, err := readCommits(srv)
	if err != nil {
		return r, err
	}
	perK := func(seconds float64) float64 { return seconds * 1000 / float64(jobs) }
	r.commits = perK(commitsAfter - commitsBefore)
	r.cpuBench = perK(after.bench - before.bench)
	r.cpuAll = perK(after.all - before.all)
	r.cpuBroker = perK(after.broker - before.broker)
	r.cpuConsumer = perK(after.consumer - before.consumer)
	for i := range srv.kilnds {
		c := perK(after.kilnds[i] - before.kilnds[i])
		r.hostCPU = append(r.hostCPU, c)
		r.cpuKilnd += c
		r.hostRan = append(r.hostRan, float64(ranAfter[i]-ranBefore[i]))
		r.rerun += int(ranAfter[i] - ranBefore[i])
	}
	if len(srv.kilnds) > 0 {
		r.rerun = max(0, r.rerun-jobs)
	}

	done := jobs
	for _, conc := range []int{1, 32} {
		fmt.Fprintf(os.Stderr, "%s: submit latency, %d submits, %d submitters\n", label, latencyJobs, conc)
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

// median folds the runs of one measurement into one result, each figure
// the median of its runs taken on its own (so the figures of one line
// need not come from the same run), with the range of jobs/s.
func median(runs []result) result {
	out := runs[0]
	out.runs = len(runs)
	mid := func(get func(result) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = get(r)
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	midDuration := func(get func(result) time.Duration) time.Duration {
		return time.Duration(mid(func(r result) float64 { return float64(get(r)) }))
	}
	out.jobsPerSec = mid(func(r result) float64 { return r.jobsPerSec })
	for _, r := range runs {
		out.slowest, out.fastest = min(out.slowest, r.jobsPerSec), max(out.fastest, r.jobsPerSec)
		out.rerun = max(out.rerun, r.rerun)
	}
	out.cpuBench = mid(func(r result) float64 { return r.cpuBench })
	out.cpuBroker = mid(func(r result) float64 { return r.cpuBroker })
	out.cpuKilnd = mid(func(r result) float64 { return r.cpuKilnd })
	out.cpuConsumer = mid(func(r result) float64 { return r.cpuConsumer })
	out.cpuAll = mid(func(r result) float64 { return r.cpuAll })
	out.commits = mid(func(r result) float64 { return r.commits })
	out.hostCPU = make([]float64, len(runs[0].hostCPU))
	out.hostRan = make([]float64, len(runs[0].hostRan))
	for i := range out.hostCPU {
		out.hostCPU[i] = mid(func(r result) float64 { return r.hostCPU[i] })
		out.hostRan[i] = mid(func(r result) float64 { return r.hostRan[i] })
	}
	out.p50 = midDuration(func(r result) time.Duration { return r.p50 })
	out.p99 = midDuration(func(r result) time.Duration { return r.p99 })
	out.p50at32 = midDuration(func(r result) time.Duration { return r.p50at32 })
	out.p99a32 = midDuration(func(r result) time.Duration { return r.p99a32 })
	return out
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
	if len(results) == 0 {
		return
	}
	runs := results[0].runs
	if runs > 1 {
		fmt.Printf("Every figure is the median of %d runs, taken figure by figure; [slowest-fastest] jobs/s of the runs.\n", runs)
	} else {
		fmt.Println("Every figure is from one run (-runs 1).")
	}
	fmt.Printf("%-21s %5s %8s %13s %7s %7s %9s %9s | %-45s\n", "", "", "", "", "", "", "", "", "CPU s per 1,000 jobs (throughput run)")
	fmt.Printf("%-21s %5s %8s %13s %7s %7s %9s %9s | %6s %6s %6s %8s %6s %6s\n", "system", "hosts", "jobs/s", "range", "p50 ms", "p99 ms", "p50@32 ms", "p99@32 ms", "bench", "broker", "kilnd", "consumer", "server", "all")
	for _, r := range results {
		hosts, broker, kilnd, consumer, server := "-", "-", "-", "-", "-"
		if r.hosts > 0 {
			hosts, kilnd = strconv.Itoa(r.hosts), fmt.Sprintf("%.3f", r.cpuKilnd)
		}
		if r.hasBroker {
			broker = fmt.Sprintf("%.3f", r.cpuBroker)
		}
		if r.hasConsumer {
			consumer = fmt.Sprintf("%.3f", r.cpuConsumer)
		}
		if r.hosts > 0 || r.hasBroker {
			server = fmt.Sprintf("%.3f", r.serverCPU())
		}
		spread := "-"
		if r.runs > 1 {
			spread = fmt.Sprintf("[%.0f-%.0f]", r.slowest, r.fastest)
		}
		fmt.Printf("%-21s %5s %8.0f %13s %7s %7s %9s %9s | %6.3f %6s %6s %8s %6s %6.3f\n", r.system, hosts, r.jobsPerSec, spread,
			ms(r.p50), ms(r.p99), ms(r.p50at32), ms(r.p99a32), r.cpuBench, broker, kilnd, consumer, server, r.cpuAll)
	}
	fmt.Println("(CPU from /proc, user+system: bench is the benchmark process, its clients and all of an in-process system;")
	fmt.Println(" broker the node's beam.smp; kilnd every kilnd summed; consumer the raw RabbitMQ peers' consumer process;")
	fmt.Println(" server broker + kilnd + consumer, what runs the jobs; all the benchmark process and every process below it.")
	fmt.Println(" With several hosts, jobs are submitted through host 1 and run on all.)")
	if *lightHosts {
		fmt.Println("(-light-hosts: every host but host 1 keeps no job records, broker.keep_records = false.)")
	}

	var perHost bool
	for _, r := range results {
		if sharesBroker(r.system) {
			if !perHost {
				fmt.Println()
				fmt.Println("Per kilnd host: CPU s per 1,000 jobs of the run (the hosts add up to the kilnd column), and the jobs it ran.")
				perHost = true
			}
			fmt.Printf("%-21s %5d ", r.system, r.hosts)
			for i := range r.hostCPU {
				fmt.Printf(" host%d %.3f (%.0f jobs)", i+1, r.hostCPU[i], r.hostRan[i])
			}
			if r.rerun > 0 {
				fmt.Printf("  (%d jobs ran again after a redelivery)", r.rerun)
			}
			fmt.Println()
		}
	}

	fmt.Println()
	byName := map[string][]result{}
	for _, r := range results {
		byName[r.system] = append(byName[r.system], r)
	}
	for _, pair := range [][2]string{{"kiln-rabbitmq", "rabbitmq"}, {"kiln-rabbitmq-batch", "rabbitmq-batch"}, {"kiln-rabbitmq-stream", "rabbitmq-pipelined"}, {"kiln-rabbitmq-amqp", "rabbitmq-pipelined"}} {
		peers := byName[pair[1]]
		if len(peers) == 0 || peers[0].jobsPerSec == 0 {
			continue
		}
		p := peers[0]
		for _, k := range byName[pair[0]] {
			fmt.Printf("%s, %s / %s: %.2fx jobs/s (overhead %.0f%%); CPU s/1k server (broker+kilnd) %.3f vs server (broker+consumer) %.3f (%.2fx; vs the broker alone %.3f, %.2fx), all %.3f vs %.3f (%.2fx)\n",
				pair[0], hostsText(k.hosts), pair[1], k.jobsPerSec/p.jobsPerSec, 100*(1-k.jobsPerSec/p.jobsPerSec),
				k.serverCPU(), p.serverCPU(), k.serverCPU()/p.serverCPU(), p.cpuBroker, k.serverCPU()/p.cpuBroker,
				k.cpuAll, p.cpuAll, k.cpuAll/p.cpuAll)
		}
	}
	for _, mine := range []string{"kiln", "kiln-daemon", "kiln-daemon-stream"} {
		ks := byName[mine]
		if len(ks) == 0 {
			continue
		}
		for _, peer := range []string{"rabbitmq", "rabbitmq-pipelined", "goqite"} {
			ps := byName[peer]
			if len(ps) == 0 || ps[0].jobsPerSec == 0 {
				continue
			}
			k, p := ks[0], ps[0]
			fmt.Printf("%s / %s: %.2fx jobs/s", mine, peer, k.jobsPerSec/p.jobsPerSec)
			// The server's side of a job where there is a server process
			// on both sides: kilnd (which runs the workers) against the
			// broker and its consumer process, and the broker alone.
			if k.hosts > 0 && p.hasBroker && p.cpuBroker > 0 {
				fmt.Printf("; server CPU s/1k kilnd %.3f vs broker+consumer %.3f (%.2fx), vs broker alone %.3f (%.2fx)",
					k.cpuKilnd, p.serverCPU(), k.cpuKilnd/p.serverCPU(), p.cpuBroker, k.cpuKilnd/p.cpuBroker)
			}
			fmt.Println()
		}
	}
	// What the event log costs: each system beside itself writing no
	// events, and with one event-stream subscriber beside none.
	for _, pair := range [][2]string{{"kiln", "kiln-noevents"}, {"kiln-daemon", "kiln-daemon-noevents"}, {"kiln-daemon-stream", "kiln-daemon-stream-noevents"}, {"kiln-daemon-sse", "kiln-daemon"}} {
		with, without := byName[pair[0]], byName[pair[1]]
		if len(with) == 0 || len(without) == 0 || without[0].jobsPerSec == 0 {
			continue
		}
		w, wo := with[0], without[0]
		what := "events"
		if pair[0] == "kiln-daemon-sse" {
			what = "one SSE subscriber"
		}
		fmt.Printf("%s, %s / %s: %+.0f%% jobs/s; CPU s/1k all %.3f vs %.3f (%+.0f%%)", what, pair[0], pair[1],
			100*(w.jobsPerSec/wo.jobsPerSec-1), w.cpuAll, wo.cpuAll, 100*(w.cpuAll/wo.cpuAll-1))
		if w.hosts > 0 {
			fmt.Printf(", kilnd %.3f vs %.3f", w.cpuKilnd, wo.cpuKilnd)
		}
		fmt.Println()
	}
	fmt.Println()
	for _, r := range results {
		fmt.Printf("bench-queue: system=%s hosts=%d runs=%d jobs=%d jobs_per_s=%.0f p50_ms=%s p99_ms=%s p99_32_ms=%s cpu_s_per_1k_jobs=%.3f client_cpu_s_per_1k=%.3f server_cpu_s_per_1k=%.3f broker_cpu_s_per_1k=%.3f kilnd_cpu_s_per_1k=%.3f consumer_cpu_s_per_1k=%.3f store_commits_per_1k=%.0f\n",
			r.system, r.hosts, r.runs, r.jobs, r.jobsPerSec, ms(r.p50), ms(r.p99), ms(r.p99a32), r.cpuAll, r.cpuBench, r.cpuAll-r.cpuBench, r.cpuBroker, r.cpuKilnd, r.cpuConsumer, r.commits)
	}
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
