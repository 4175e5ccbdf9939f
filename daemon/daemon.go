// Package daemon is kilnd being a Linux daemon: configuration, the
// single-instance pidfile, detaching, sd_notify and the watchdog, signals,
// logging and the control socket. The queue and the jobs are package
// worker's business.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"kiln/api"
	"kiln/worker"
	"kiln/worker/image"
	"kiln/worker/queue/local"
)

// Exit codes, after sysexits.h, so that a unit can refuse to restart on a
// config error (RestartPreventExitStatus=78).
const (
	ExitOK             = 0
	ExitFailure        = 1
	ExitUsage          = 64
	ExitConfig         = 78
	ExitAlreadyRunning = 69 // EX_UNAVAILABLE: another instance holds the pidfile
)

// Options are kilnd's command-line settings.
type Options struct {
	ConfigPath  string
	Dev         bool // use the embedded development config
	CheckConfig bool
	Detach      bool
	Version     string
	Args        []string // the full command line, for re-exec when detaching
	Stdout      io.Writer
	Stderr      io.Writer
}

// retentionEvery is how often finished jobs past their keep time are
// deleted.
const retentionEvery = time.Minute

// daemonState is what the running daemon's parts share.
type daemonState struct {
	cfg      atomic.Pointer[Config]
	queue    *local.Store
	pool     *worker.Pool
	images   *image.Handler
	handlers map[string]worker.Handler
	started  time.Time
	version  string
	purged   atomic.Int64
}

func (d *daemonState) config() *Config { return d.cfg.Load() }

func (d *daemonState) status(ctx context.Context) (*api.Status, error) {
	stats, err := d.queue.Stats(ctx)
	if err != nil {
		return nil, err
	}
	cfg := d.config()
	ps := d.pool.Stats()
	now := time.Now()
	queues := map[string]*api.QueueStatus{}
	get := func(name string) *api.QueueStatus {
		if queues[name] == nil {
			queues[name] = &api.QueueStatus{Counts: map[worker.State]int{}}
		}
		return queues[name]
	}
	for name, q := range cfg.Queues {
		get(name).Concurrency = q.Concurrency
	}
	for name, st := range stats {
		qs := get(name)
		qs.Counts = st.Counts
		qs.Paused = st.Paused
		if !st.OldestQueued.IsZero() {
			qs.OldestQueuedAgeS = now.Sub(st.OldestQueued).Seconds()
		}
	}
	for name, r := range ps.SucceededPerSec {
		get(name).SucceededPerSec = r
	}
	for name, r := range ps.FailedPerSec {
		get(name).FailedPerSec = r
	}
	return &api.Status{
		Version: d.version, PID: os.Getpid(), StartedAt: d.started, Config: cfg.Source,
		Queues: queues, Running: ps.Running, Succeeded: ps.Succeeded, Failed: ps.Failed, Purged: d.purged.Load(),
	}, nil
}

// statusLine is the one-line summary for systemd's STATUS=.
func (d *daemonState) statusLine(ctx context.Context) string {
	s, err := d.status(ctx)
	if err != nil {
		return "status unavailable: " + err.Error()
	}
	var queued, dead int
	for _, q := range s.Queues {
		queued += q.Counts[worker.StateQueued] + q.Counts[worker.StateRetrying] + q.Counts[worker.StateScheduled]
		dead += q.Counts[worker.StateDead]
	}
	return fmt.Sprintf("%d running, %d queued, %d dead", s.Running, queued, dead)
}

// enforceRetention deletes finished jobs past their keep time, counting them.
func (d *daemonState) enforceRetention(ctx context.Context, log *slog.Logger) {
	d.purged.Add(int64(worker.EnforceRetention(ctx, d.queue, d.config().Retention(), log)))
}

func loadConfig(opts Options) (*Config, error) {
	if opts.Dev {
		base := os.Getenv(envBaseDir)
		if base == "" {
			var err error
			if base, err = os.Getwd(); err != nil {
				return nil, err
			}
		}
		return DevConfig(base)
	}
	return LoadConfig(opts.ConfigPath)
}

// Run is kilnd's main; it returns the process exit code.
func Run(opts Options) int {
	if opts.CheckConfig {
		if _, err := loadConfig(opts); err != nil {
			fmt.Fprintln(opts.Stderr, err)
			return ExitConfig
		}
		fmt.Fprintln(opts.Stdout, "config OK")
		return ExitOK
	}
	if opts.Detach && !isDetachedChild() {
		return detachParent(opts.Args, opts.Stderr)
	}
	detached := isDetachedChild()
	if detached {
		if err := detachChild(); err != nil {
			fmt.Fprintf(opts.Stderr, "kilnd: %v\n", err)
			return ExitFailure
		}
	} else {
		syscall.Umask(0o027)
	}

	notify := newNotifier()
	fail := func(code int, err error) int {
		notify.failed(err)
		fmt.Fprintf(opts.Stderr, "kilnd: %v\n", err)
		return code
	}

	cfg, err := loadConfig(opts)
	if err != nil {
		return fail(ExitConfig, err)
	}
	logging, err := newLogging(cfg.Log, detached, opts.Stderr)
	if err != nil {
		return fail(ExitConfig, err)
	}
	defer logging.Close()
	log := logging.Logger
	fatal := func(code int, err error) int {
		log.Error("cannot start", "err", err)
		return fail(code, err)
	}

	pid, err := AcquirePidfile(cfg.Daemon.Pidfile)
	if err != nil {
		var running *AlreadyRunningError
		if errors.As(err, &running) {
			return fatal(ExitAlreadyRunning, err)
		}
		return fatal(ExitFailure, err)
	}
	defer pid.Release()

	if err := os.MkdirAll(cfg.Daemon.StateDir, 0o750); err != nil {
		return fatal(ExitFailure, fmt.Errorf("create state directory: %w", err))
	}
	d := &daemonState{started: time.Now(), version: opts.Version}
	d.cfg.Store(cfg)
	store, err := local.Open(cfg.StorePath(), func(q string) int { return d.config().Queues[q].MaxQueued })
	if err != nil {
		return fatal(ExitFailure, err)
	}
	defer store.Close()
	d.queue = store
	exe, err := os.Executable()
	if err != nil {
		return fatal(ExitFailure, fmt.Errorf("find own executable for image workers: %w", err))
	}
	workers := image.NewWorkers([]string{exe, "-image-worker"}, cfg.Images)
	defer workers.Close()
	d.images = image.NewHandler(cfg.Pipelines, cfg.Images, workers)
	d.handlers = map[string]worker.Handler{image.JobType: d.images, worker.NoopType: worker.Noop{}}
	d.pool = worker.NewPool(store, d.handlers, log)

	ln, err := listenControl(cfg.Daemon.Socket)
	if err != nil {
		return fatal(ExitFailure, err)
	}
	server := newControlServer(d, log)
	serveErr := make(chan error, 1)
	go func() { serveErr <- server.serve(ln) }()

	log.Info("starting", "version", opts.Version, "pid", os.Getpid(), "config", cfg.Source,
		"store", store.Path(), "socket", cfg.Daemon.Socket, "log", logging.Target)

	poolCtx, stopPool := context.WithCancel(context.Background())
	defer stopPool()
	poolDone := make(chan error, 1)
	started := make(chan struct{})
	wd := watchdogInterval()
	go func() {
		poolDone <- d.pool.Run(poolCtx, cfg.QueueSettings(), worker.RunOptions{
			Drain:          time.Duration(cfg.Daemon.ShutdownTimeout),
			Heartbeat:      notify.watchdog,
			HeartbeatEvery: wd,
			Started:        func() { close(started) },
		})
	}()
	<-started

	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(signals)

	notify.ready(d.statusLine(context.Background()))
	if detached {
		notify.detach()
	}
	log.Info("ready", "queues", len(cfg.Queues), "pipelines", len(cfg.Pipelines), "watchdog", wd)

	statusTick := time.NewTicker(5 * time.Second)
	defer statusTick.Stop()
	retentionTick := time.NewTicker(retentionEvery)
	defer retentionTick.Stop()
	retentionDone := make(chan struct{}, 1)
	retentionDone <- struct{}{}
	for {
		select {
		case sig := <-signals:
			switch sig {
			case syscall.SIGHUP:
				d.reload(opts, logging, notify)
			case syscall.SIGUSR1:
				log.Info("status", "summary", d.statusLine(context.Background()), "config", d.config().Source)
			default:
				log.Info("stopping", "signal", sig.String())
				return d.stop(stopPool, poolDone, server, notify, log)
			}
		case <-statusTick.C:
			notify.status(d.statusLine(context.Background()))
		case <-retentionTick.C:
			select {
			case <-retentionDone: // the previous run has finished
				go func() {
					d.enforceRetention(poolCtx, log)
					retentionDone <- struct{}{}
				}()
			default:
			}
		case err := <-poolDone:
			// The pool only returns on its own when it has failed.
			return fatal(ExitFailure, fmt.Errorf("dispatch loop ended: %v", err))
		case err := <-serveErr:
			return fatal(ExitFailure, fmt.Errorf("control socket: %v", err))
		}
	}
}

// reload applies a new config; a bad one is refused and the old one stays.
func (d *daemonState) reload(opts Options, logging *Logging, notify *notifier) {
	log := logging.Logger
	notify.reloading()
	defer notify.ready(d.statusLine(context.Background()))
	next, err := loadConfig(opts)
	if err != nil {
		log.Error("reload refused: config is invalid; the running config stays in effect", "err", err)
		return
	}
	old := d.config()
	if next.Daemon != old.Daemon || next.Log.Target != old.Log.Target || next.Log.SyslogAddress != old.Log.SyslogAddress || next.Log.SyslogFacility != old.Log.SyslogFacility {
		log.Warn("reload: [daemon] and log target settings take effect only at restart")
		next.Daemon = old.Daemon
	}
	if err := logging.SetLevel(next.Log.Level); err != nil {
		log.Error("reload: log level", "err", err)
	}
	d.images.Configure(next.Pipelines, next.Images)
	d.pool.Reconfigure(next.QueueSettings())
	d.cfg.Store(next)
	log.Info("reloaded", "config", next.Source, "queues", len(next.Queues), "pipelines", len(next.Pipelines), "level", next.Log.Level)
}

// stop takes no new work, lets running jobs finish within the shutdown
// timeout, and leaves everything else queued.
func (d *daemonState) stop(stopPool context.CancelFunc, poolDone <-chan error, server *controlServer, notify *notifier, log *slog.Logger) int {
	notify.stopping()
	stopPool()
	err := <-poolDone
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := server.shutdown(ctx); serr != nil {
		log.Warn("control socket did not close cleanly", "err", serr)
	}
	if err != nil {
		log.Error("stopped with jobs still running", "err", err)
		return ExitFailure
	}
	log.Info("stopped")
	return ExitOK
}
