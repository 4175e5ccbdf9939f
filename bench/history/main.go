// Command bench-history measures how kilnd on the rabbitmq backend copes
// with the history of jobs it shares with other hosts. For each history
// size H it puts H no-op jobs through one or more kilnds on a private
// RabbitMQ node, then starts kilnd again twice: the host that ran them,
// restarted, and a new host joining the same broker. For those and for the
// host as it stands after the history it reports
//
//   - the time from process start to the READY=1 kilnd sends to its
//     NOTIFY_SOCKET, and the STATUS= lines it sent;
//   - whether its answers are right once READY: the succeeded count of the
//     bench queue against H, and the first and the last job of the history,
//     asked at READY and then until right, with the time that took;
//   - its RSS and PSS at READY, after the checks, and at rest (once the
//     next STATUS= after the checks came, a few seconds later);
//   - the CPU (utime+stime) the start cost kilnd and the broker's beam.smp.
//
// It uses the real kilnd from `make build` and Debian's rabbitmq-server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"kiln/api"
	"kiln/bench/internal/kilnload"
	"kiln/bench/internal/privatebroker"
	"kiln/bench/internal/procstat"
	"kiln/e2e/instance"
	"kiln/internal/rabbitnode"
	"kiln/kilntype"
	"kiln/worker"
)

// benchQueue is the queue the history goes through.
const benchQueue = "bench"

type options struct {
	bin         string
	hosts       int
	streams     int
	window      int
	concurrency int
	backlog     int
	payload     []byte
	settle      time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "../bin", "directory holding kilnd (from make build)")
	sizes := flag.String("history", "1000,1000000", "history sizes: jobs put through before the starts measured")
	flag.IntVar(&o.hosts, "hosts", 1, "kilnds sharing the broker while the history goes through")
	flag.IntVar(&o.streams, "streams", 8, "concurrent streaming submits during the history, spread over the hosts")
	flag.IntVar(&o.window, "window", 256, "unanswered jobs per streaming submit")
	flag.IntVar(&o.backlog, "backlog", 4000, "history jobs that may wait to run at once: the submits wait while more do")
	flag.IntVar(&o.concurrency, "concurrency", 256, "workers of the bench queue on each host")
	payloadSize := flag.Int("payload", 0, "payload bytes per job (0: no payload)")
	flag.DurationVar(&o.settle, "settle", 15*time.Minute, "how long a host may take after READY=1 to answer right")
	flag.Parse()
	if o.hosts < 1 || o.streams < 1 || o.backlog < 1 {
		fail(errors.New("-hosts, -streams and -backlog must be at least 1"))
	}
	if *payloadSize > 0 {
		// {"data":"xxx"}: the JSON itself is 11 bytes of the size.
		o.payload = []byte(`{"data":"` + strings.Repeat("x", max(0, *payloadSize-11)) + `"}`)
	}
	if err := rabbitnode.Available(); err != nil {
		fail(err)
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			fail(fmt.Errorf("-history %q: sizes are counts of at least 2 (the first and the last job are looked up)", s))
		}
		r, err := run(o, n)
		if err != nil {
			fail(fmt.Errorf("history %d: %w", n, err))
		}
		r.print(os.Stdout)
	}
}

// run puts a history of n jobs through, measures the three starts, and
// removes its directory unless it failed (the kilnd and broker logs are
// there).
func run(o options, n int) (*report, error) {
	dir, err := os.MkdirTemp("", "bench-history-")
	if err != nil {
		return nil, fmt.Errorf("make run directory: %w", err)
	}
	progress("history %d: run directory %s", n, dir)
	group, node, err := privatebroker.Start(filepath.Join(dir, "broker"))
	if err != nil {
		return nil, err
	}
	b := &bench{opts: o, dir: dir, n: n, node: node, rep: &report{history: n, hosts: o.hosts, settleLimit: o.settle}}
	err = b.measure()
	b.stopAll()
	group.Close()
	if err != nil {
		return nil, fmt.Errorf("%w (logs kept in %s)", err, dir)
	}
	os.RemoveAll(dir)
	return b.rep, nil
}

// bench is one history size's run.
type bench struct {
	opts   options
	dir    string
	n      int
	node   *rabbitnode.Node
	broker int    // the node's beam.smp
	table  string // the [broker] table of every kilnd's config
	hosts  []*host
	rep    *report

	firstID, lastID string
}

func (b *bench) measure() error {
	var err error
	if b.broker, err = procstat.BrokerVM(); err != nil {
		return err
	}
	if b.table, err = privatebroker.KilndTable(b.dir, b.node); err != nil {
		return err
	}

	// (a): the hosts that run the history start on an empty broker.
	existing := make([]*start, b.opts.hosts)
	for i := range existing {
		h, err := b.newHost(fmt.Sprintf("host%d", i))
		if err != nil {
			return err
		}
		if existing[i], err = b.launch(h, "(a) ran them"); err != nil {
			return err
		}
	}
	if err := b.putHistory(); err != nil {
		return err
	}
	ran := existing[0]
	ran.emptyBroker = true
	historyDone := time.Now()
	afterHistory, err := b.ask(ran.host)
	if err != nil {
		return err
	}
	if err := b.settle(ran, historyDone, afterHistory); err != nil {
		return err
	}
	b.rep.starts = append(b.rep.starts, ran)

	// (b): the first host, stopped and started again on its own directory.
	progress("history %d: restarting host0", b.n)
	if err := ran.host.stop(); err != nil {
		return fmt.Errorf("stop host0 before its restart: %w", err)
	}
	restarted, err := b.launch(ran.host, "(b) restarted")
	if err != nil {
		return err
	}
	if err := b.check(restarted); err != nil {
		return err
	}
	b.rep.starts = append(b.rep.starts, restarted)

	// (c): a host that has never run, joining the same broker.
	progress("history %d: starting a new host", b.n)
	fresh, err := b.newHost("new")
	if err != nil {
		return err
	}
	joined, err := b.launch(fresh, "(c) new host")
	if err != nil {
		return err
	}
	if err := b.check(joined); err != nil {
		return err
	}
	if err := b.followPastRead(joined); err != nil {
		return err
	}
	b.rep.starts = append(b.rep.starts, joined)
	return nil
}

// pastReadLine is what kilnd logs once a host that joined has read the
// history behind the stream's live part, or the whole of it at start.
const pastReadLine = "job history read"

// pastReadWithin bounds the wait for a joined host's read of the past.
const pastReadWithin = 10 * time.Minute

// followPastRead waits for the joined host to log that it has read the
// past, sampling its memory meanwhile: how long the read took from the
// host's start, and the most RSS it held while it read.
func (b *bench) followPastRead(s *start) error {
	deadline := time.Now().Add(pastReadWithin)
	for {
		if m, err := procstat.ReadMemory(s.host.pid()); err == nil && m.RSS > s.memPastPeak.RSS {
			s.memPastPeak = m
		}
		log, err := os.ReadFile(s.host.logPath())
		if err != nil {
			return fmt.Errorf("read %s's log: %w", s.host.name, err)
		}
		if strings.Contains(string(log), pastReadLine) {
			s.pastRead = time.Since(s.startedAt)
			progress("history %d: %s read the past %s after its start (RSS at most %d MB meanwhile)", b.n, s.label, s.pastRead.Round(time.Millisecond), s.memPastPeak.RSS>>20)
			return nil
		}
		if time.Now().After(deadline) {
			s.pastRead = -1
			progress("history %d: %s has not read the past %s after its start", b.n, s.label, pastReadWithin)
			return nil
		}
		time.Sleep(250 * time.Millisecond) // sampling the host's memory as it reads
	}
}

// newHost prepares a kilnd directory with the bench queue on the broker.
func (b *bench) newHost(name string) (*host, error) {
	dir := filepath.Join(b.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("make %s directory: %w", name, err)
	}
	inst, err := instance.Prepare(dir, fmt.Sprintf("[queues.%s]\nconcurrency = %d\n\n%s", benchQueue, b.opts.concurrency, b.table))
	if err != nil {
		return nil, fmt.Errorf("write %s config: %w", name, err)
	}
	// The log says when a joined host has read the past (pastReadLine),
	// at level info: a drop-in raises the level the instance writes.
	dropIns := filepath.Join(filepath.Dir(inst.Config), "conf.d")
	if err := os.MkdirAll(dropIns, 0o755); err != nil {
		return nil, fmt.Errorf("make %s drop-in directory: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dropIns, "10-bench-log.toml"), []byte("[log]\nlevel = \"info\"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write %s log drop-in: %w", name, err)
	}
	h := &host{name: name, inst: inst, client: inst.Client()}
	b.hosts = append(b.hosts, h)
	return h, nil
}

// launch starts h's kilnd and records what its start to READY=1 cost.
func (b *bench) launch(h *host, label string) (*start, error) {
	brokerBefore, err := procstat.OwnCPU(b.broker)
	if err != nil {
		return nil, fmt.Errorf("broker CPU before %s starts: %w", h.name, err)
	}
	if err := h.launch(b.opts.bin, b.opts.settle); err != nil {
		return nil, err
	}
	s := &start{label: label, host: h, ready: h.ready, readyStatus: h.notices.last().text}
	// Read at once, before the checks ask anything of it.
	if s.memReady, err = procstat.ReadMemory(h.pid()); err != nil {
		return nil, fmt.Errorf("%s memory at READY: %w", h.name, err)
	}
	if s.kilndCPUReady, err = procstat.OwnCPU(h.pid()); err != nil {
		return nil, fmt.Errorf("%s CPU at READY: %w", h.name, err)
	}
	brokerReady, err := procstat.OwnCPU(b.broker)
	if err != nil {
		return nil, fmt.Errorf("broker CPU at %s's READY: %w", h.name, err)
	}
	s.brokerBefore, s.brokerCPUReady = brokerBefore, brokerReady-brokerBefore
	progress("history %d: %s READY=1 in %s (STATUS=%s)", b.n, h.name, s.ready.Round(time.Millisecond), s.readyStatus)
	return s, nil
}

// putHistory puts n no-op jobs through the hosts: the first and the last
// alone, so that they are known, and the rest over concurrent streaming
// submits spread over the hosts, then waits for every host to count them
// all as succeeded.
func (b *bench) putHistory() error {
	ctx := context.Background()
	req := api.SubmitRequest{Type: worker.NoopType, Queue: benchQueue, Payload: b.opts.payload}
	cpuBefore, err := b.cpuOfAll()
	if err != nil {
		return err
	}
	t0 := time.Now()
	progress("history %d: submitting over %d streams to %d host(s)", b.n, b.opts.streams, len(b.hosts))
	first, err := b.hosts[0].client.Submit(ctx, req)
	if err != nil {
		return fmt.Errorf("submit the first job to host0: %w", err)
	}
	b.firstID = first.ID
	// The jobs between go in chunks; each stream takes the next chunk once
	// the jobs submitted with it would leave at most backlog waiting.
	middle := b.n - 2
	chunk := 4 * b.opts.window
	pace := newPacer(b.hosts[0].client, b.n, b.opts.settle)
	go pace.follow(ctx)
	var reserved atomic.Int64
	errs := make(chan error, b.opts.streams)
	var wg sync.WaitGroup
	for s := 0; s < b.opts.streams; s++ {
		h := b.hosts[s%len(b.hosts)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				end := int(reserved.Add(int64(chunk)))
				from := end - chunk
				if from >= middle {
					return
				}
				count := min(chunk, middle-from)
				// The first job, and the ones up to this chunk's end.
				if err := pace.waitFor(1 + from + count - b.opts.backlog); err != nil {
					errs <- fmt.Errorf("stream %d to %s: %w", s, h.name, err)
					return
				}
				if err := kilnload.SubmitStream(ctx, h.client, req, count, b.opts.window); err != nil {
					errs <- fmt.Errorf("stream %d to %s: %w", s, h.name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	pace.stop()
	close(errs)
	for err := range errs {
		return err
	}
	lastHost := b.hosts[len(b.hosts)-1]
	last, err := lastHost.client.Submit(ctx, req)
	if err != nil {
		return fmt.Errorf("submit the last job to %s: %w", lastHost.name, err)
	}
	b.lastID = last.ID
	b.rep.submitted = time.Since(t0)
	progress("history %d: submitted in %s; waiting for every host to count them succeeded", b.n, b.rep.submitted.Round(time.Millisecond))
	wait, cancel := context.WithTimeout(ctx, b.opts.settle)
	defer cancel()
	for _, h := range b.hosts {
		if err := kilnload.WaitSucceeded(wait, h.client, benchQueue, b.n); err != nil {
			return fmt.Errorf("%s: %w", h.name, err)
		}
	}
	b.rep.ran = time.Since(t0)
	cpuAfter, err := b.cpuOfAll()
	if err != nil {
		return err
	}
	b.rep.historyKilndCPU = cpuAfter.kilnd - cpuBefore.kilnd
	b.rep.historyBrokerCPU = cpuAfter.broker - cpuBefore.broker
	return nil
}

type cpuPair struct{ kilnd, broker float64 }

// cpuOfAll is the CPU seconds of the running kilnds together, and of the
// broker.
func (b *bench) cpuOfAll() (cpuPair, error) {
	var c cpuPair
	for _, h := range b.hosts {
		if !h.running() {
			continue
		}
		s, err := procstat.OwnCPU(h.pid())
		if err != nil {
			return c, fmt.Errorf("%s CPU: %w", h.name, err)
		}
		c.kilnd += s
	}
	s, err := procstat.OwnCPU(b.broker)
	if err != nil {
		return c, fmt.Errorf("broker CPU: %w", err)
	}
	c.broker = s
	return c, nil
}

// check asks a freshly READY host for the history at once, then again
// until its answers are right or the settle time has passed.
func (b *bench) check(s *start) error {
	var err error
	if s.atReady, err = b.ask(s.host); err != nil {
		return err
	}
	return b.settle(s, s.host.readyAt, s.atReady)
}

// settle polls s's host, from its answers a, until they are right, and
// records how long after since that took, its memory and CPU after the
// checks, and the last STATUS= it sent.
func (b *bench) settle(s *start, since time.Time, a answers) error {
	deadline := time.Now().Add(b.opts.settle)
	for {
		s.settled = a
		if a.right(b.n) {
			s.settleTime = time.Since(since)
			break
		}
		if time.Now().After(deadline) {
			s.settleTime = -1
			break
		}
		if !s.host.running() {
			return fmt.Errorf("%s exited before its answers were right: %v (see %s)", s.host.name, s.host.exitErr, s.host.logPath())
		}
		// Between polls: the status and both lookups are the real condition.
		time.Sleep(20 * time.Millisecond)
		var err error
		if a, err = b.ask(s.host); err != nil {
			return err
		}
	}
	var err error
	if s.memAfter, err = procstat.ReadMemory(s.host.pid()); err != nil {
		return fmt.Errorf("%s memory after the checks: %w", s.host.name, err)
	}
	if s.kilndCPUSettled, err = procstat.OwnCPU(s.host.pid()); err != nil {
		return fmt.Errorf("%s CPU after the checks: %w", s.host.name, err)
	}
	broker, err := procstat.OwnCPU(b.broker)
	if err != nil {
		return fmt.Errorf("broker CPU after %s's checks: %w", s.host.name, err)
	}
	s.brokerCPUSettled = broker - s.brokerBefore
	// kilnd refreshes its STATUS= every few seconds: the first one after
	// the answers were right says whether it knows it is.
	if s.settleTime >= 0 {
		after, ok := s.host.notices.statusAfter(time.Now(), statusWait)
		s.statusAfterRight, s.statusAfterRightCame = after, ok
	}
	// At rest: once that STATUS= came (or its wait ran out), seconds
	// after the last job, when a host that ran a burst has had its
	// records written and given back what the burst took.
	if s.memRest, err = procstat.ReadMemory(s.host.pid()); err != nil {
		return fmt.Errorf("%s memory at rest: %w", s.host.name, err)
	}
	s.statuses = s.host.notices.changes()
	s.startedAt = s.host.startedAt
	if s.settleTime >= 0 {
		progress("history %d: %s right after %s (succeeded %d)", b.n, s.label, s.settleTime.Round(time.Millisecond), s.settled.succeeded)
	} else {
		progress("history %d: %s still not right after %s (succeeded %d, first %s, last %s)", b.n, s.label, b.opts.settle, s.settled.succeeded, s.settled.first, s.settled.last)
	}
	return nil
}

// answers is what a host said of the history at one moment.
type answers struct {
	succeeded   int
	statusErr   string // why the status was not answered, if it was not
	first, last string // the job's state, or why it was not answered
}

func (a answers) right(n int) bool {
	return a.statusErr == "" && a.succeeded == n &&
		a.first == string(kilntype.StateSucceeded) && a.last == string(kilntype.StateSucceeded)
}

// statusWait is how long to wait for kilnd's next STATUS=: it refreshes
// the line every 5 s.
const statusWait = 15 * time.Second

// askTimeout bounds each question: a host busy reading its history may
// hold an answer back, and the bench reports that rather than hang.
const askTimeout = 30 * time.Second

// ask reads the succeeded count and looks up the first and the last job.
// A refused or timed-out answer is recorded, not an error: only a host
// that is gone fails the run.
func (b *bench) ask(h *host) (answers, error) {
	var a answers
	ctx, cancel := context.WithTimeout(context.Background(), askTimeout)
	defer cancel()
	n, err := kilnload.Succeeded(ctx, h.client, benchQueue)
	if err != nil {
		a.statusErr = short(err)
	}
	a.succeeded = n
	a.first = jobState(ctx, h.client, b.firstID)
	a.last = jobState(ctx, h.client, b.lastID)
	if !h.running() {
		return a, fmt.Errorf("%s exited: %v (see %s)", h.name, h.exitErr, h.logPath())
	}
	return a, nil
}

// jobState is a job's state as the host answers it, or the reason it
// could not.
func jobState(ctx context.Context, client *api.Client, id string) string {
	j, err := client.Job(ctx, id, 0)
	if err != nil {
		return short(err)
	}
	if j.ID != id {
		return "other job " + j.ID
	}
	return string(j.State)
}

// short makes an error fit a table cell: the HTTP status of a refusal,
// else the error's first words.
func short(err error) string {
	var re *api.RequestError
	if errors.As(err, &re) {
		if re.Status == 404 {
			return "not found"
		}
		return "HTTP " + strconv.Itoa(re.Status)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	s := err.Error()
	if len(s) > 24 {
		s = s[:24]
	}
	return s
}

func (b *bench) stopAll() {
	for _, h := range b.hosts {
		if h.running() {
			if err := h.stop(); err != nil {
				progress("history %d: stop %s: %v", b.n, h.name, err)
			}
		}
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-history: "+format+"\n", args...)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-history:", err)
	os.Exit(1)
}

// host is one kilnd of the run: its directory, config and socket and,
// while it runs, its process and the notices it sends.
type host struct {
	name   string
	inst   *instance.Instance
	client *api.Client

	cmd       *exec.Cmd
	exited    chan struct{} // closed once the process has been reaped
	exitErr   error         // how it exited, once exited is closed
	notices   *notifySocket
	startedAt time.Time
	readyAt   time.Time
	ready     time.Duration // process start to READY=1
	logFile   *os.File
}

func (h *host) logPath() string { return filepath.Join(h.inst.Dir, "kilnd.log") }

// launch starts the kilnd binary in bin on h's config, as systemd starts
// a Type=notify service, and returns at its READY=1; the notices that
// follow go on being read until it is stopped. A kilnd that exits first,
// or says nothing for readyTimeout, fails the launch.
func (h *host) launch(bin string, readyTimeout time.Duration) error {
	notices, err := listenNotify(filepath.Join(h.inst.Dir, "notify.sock"))
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(h.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		notices.close()
		return fmt.Errorf("open %s log: %w", h.name, err)
	}
	kilnd := filepath.Join(bin, "kilnd")
	cmd := exec.Command(kilnd, "-config", h.inst.Config)
	cmd.Env = append(os.Environ(), notices.env())
	cmd.Stderr = logf
	h.startedAt = time.Now()
	if err := cmd.Start(); err != nil {
		notices.close()
		logf.Close()
		return fmt.Errorf("start %s for %s: %w (make build)", kilnd, h.name, err)
	}
	h.cmd, h.notices, h.logFile = cmd, notices, logf
	h.exited = make(chan struct{})
	go func() {
		h.exitErr = cmd.Wait()
		close(h.exited)
	}()
	select {
	case <-notices.ready:
	case <-h.exited:
		h.stop()
		return fmt.Errorf("%s exited before READY=1: %v (last STATUS=%q; see %s)", h.name, h.exitErr, notices.last().text, h.logPath())
	case <-time.After(readyTimeout):
		h.stop()
		return fmt.Errorf("%s: no READY=1 within %s (last STATUS=%q; see %s)", h.name, readyTimeout, notices.last().text, h.logPath())
	}
	h.readyAt = notices.readyAt
	h.ready = h.readyAt.Sub(h.startedAt)
	return nil
}

func (h *host) pid() int { return h.cmd.Process.Pid }

func (h *host) running() bool {
	if h.cmd == nil {
		return false
	}
	select {
	case <-h.exited:
		return false
	default:
		return true
	}
}

// stop ends h's kilnd with SIGTERM, as systemd stops it, and waits for it.
func (h *host) stop() error {
	h.cmd.Process.Signal(syscall.SIGTERM)
	<-h.exited
	h.notices.close()
	h.logFile.Close()
	if h.exitErr != nil {
		return fmt.Errorf("%s exit: %w (see %s)", h.name, h.exitErr, h.logPath())
	}
	return nil
}
