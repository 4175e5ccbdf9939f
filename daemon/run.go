package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"kiln/worker"
	"kiln/worker/queue/local"
)

// retentionEvery is how often finished jobs past their keep time are
// deleted.
const retentionEvery = time.Minute

// statusEvery is how often systemd's STATUS= line is refreshed.
const statusEvery = 5 * time.Second

// Run is kilnd's main; it returns the process exit code. The plugins bring
// the job kinds the daemon runs, besides its own noop, and their tables of
// the config file.
func Run(opts Options, plugins ...worker.Plugin) int {
	if err := checkPlugins(plugins); err != nil {
		fmt.Fprintf(opts.Stderr, "kilnd: %v\n", err)
		return ExitFailure
	}
	if opts.CheckConfig {
		return checkConfig(opts, plugins)
	}
	if opts.PrintConfig {
		return printConfig(opts, plugins)
	}
	if opts.Detach && !isDetachedChild() {
		return detachParent(opts.Args, opts.Stderr)
	}
	stopProfiling, err := startProfiling()
	if err != nil {
		fmt.Fprintf(opts.Stderr, "kilnd: %v\n", err)
		return ExitFailure
	}
	defer stopProfiling()
	d := &daemon{opts: opts, plugins: plugins, notify: newNotifier(), started: time.Now()}
	code, err := d.start()
	defer d.close()
	if err != nil {
		if d.log != nil {
			d.log.Error("cannot start", "err", err)
		}
		d.notify.failed(err)
		fmt.Fprintf(opts.Stderr, "kilnd: %v\n", err)
		return code
	}
	return d.serve()
}

// checkConfig is -check-config: every error, or "config OK" with the
// warnings that would be logged at start. It runs the start's own checks
// (startChecks), so it refuses what a start would refuse, in its words.
func checkConfig(opts Options, plugins []worker.Plugin) int {
	cfg, err := loadConfig(opts, plugins)
	if err != nil {
		fmt.Fprintln(opts.Stderr, err)
		return ExitConfig
	}
	if _, err := startChecks(cfg); err != nil {
		fmt.Fprintln(opts.Stderr, err)
		return startChecksCode(err)
	}
	for _, w := range pathWarnings(cfg, true) {
		fmt.Fprintln(opts.Stderr, "warning: "+w)
	}
	fmt.Fprintln(opts.Stdout, "config OK")
	return ExitOK
}

func loadConfig(opts Options, plugins []worker.Plugin) (*Config, error) {
	if opts.Dev {
		base := os.Getenv(envBaseDir)
		if base == "" {
			var err error
			if base, err = os.Getwd(); err != nil {
				return nil, err
			}
		}
		return DevConfig(base, plugins...)
	}
	return LoadConfig(opts.ConfigPath, plugins...)
}

// start takes the start-up steps in order; each one's failure names the
// exit code it deserves. What a step opened is closed by close.
func (d *daemon) start() (int, error) {
	steps := []struct {
		code int
		run  func() error
	}{
		{ExitFailure, d.becomeDaemon},
		{ExitConfig, d.loadFirstConfig},
		{ExitConfig, d.openLogging},
		{ExitConfig, d.checkStart},
		{ExitAlreadyRunning, d.lockPidfile},
		{ExitAlreadyRunning, d.lockState},
		{ExitFailure, d.openCharts},
		{ExitFailure, d.openQueue},
		{ExitFailure, d.configureEvents},
		{ExitFailure, d.instrument},
		{ExitFailure, d.registerKinds},
		{ExitFailure, d.runPlugins},
		{ExitFailure, d.openSchedules},
		{ExitFailure, d.listenControl},
		{ExitFailure, d.listenHTTP},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			var ee *exitError
			if errors.As(err, &ee) {
				return ee.code, ee.err
			}
			return s.code, err
		}
	}
	return ExitOK, nil
}

// exitError is a step's failure that deserves another exit code than the
// step's own.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// becomeDaemon detaches a -daemon child from its session, or sets the
// umask of a process that systemd or a shell started.
func (d *daemon) becomeDaemon() error {
	d.detached = isDetachedChild()
	if d.detached {
		return detachChild()
	}
	syscall.Umask(0o027)
	return nil
}

func (d *daemon) loadFirstConfig() error {
	cfg, err := loadConfig(d.opts, d.plugins)
	if err != nil {
		return err
	}
	d.cfg.Store(cfg)
	return nil
}

func (d *daemon) openLogging() error {
	logging, err := newLogging(d.config().Log, d.detached, d.opts.Stderr)
	if err != nil {
		return err
	}
	d.logging, d.log = logging, logging.Logger
	return nil
}

// lockPidfile refuses a second instance.
func (d *daemon) lockPidfile() error {
	pid, err := AcquirePidfile(d.config().Daemon.Pidfile)
	if err != nil {
		return lockFailure("daemon.pidfile", err)
	}
	d.pidfile = pid
	return nil
}

// lockFailure gives a failed AcquirePidfile its exit code: another
// instance is "already running", a file that is not a pidfile a config
// error (the start checks name it first, unless it appeared since), and
// anything else a plain failure.
func lockFailure(key string, err error) error {
	var running *AlreadyRunningError
	var notPidfile *NotPidfileError
	switch {
	case errors.As(err, &running):
		return &exitError{code: ExitAlreadyRunning, err: err}
	case errors.As(err, &notPidfile):
		return &exitError{code: ExitConfig, err: fmt.Errorf("%s: %w", key, err)}
	}
	return &exitError{code: ExitFailure, err: err}
}

// openQueue opens the store in the state directory that lockState
// created and holds, or the broker.
func (d *daemon) openQueue() error {
	cfg := d.config()
	if cfg.Broker.Backend == backendRabbitMQ {
		q, err := d.openBroker()
		if err != nil {
			return err
		}
		d.queue = q
		return nil
	}
	store, err := local.Open(cfg.StorePath(), func(queue string) int { return d.config().Queues[queue].MaxQueued })
	if err != nil {
		return err
	}
	d.queue = store
	return nil
}

func (d *daemon) listenControl() error {
	ln, err := listenControl(d.config().Daemon.Socket)
	if err != nil {
		return err
	}
	d.server = newControlServer(d, d.log)
	d.server.start(ln)
	return nil
}

// serve runs the dispatch loop and owns the signals until the daemon stops.
func (d *daemon) serve() int {
	cfg := d.config()
	defer startGCFloor()()
	d.log.Info("starting", "version", d.opts.Version, "pid", os.Getpid(), "config", cfg.Source, "drop_ins", cfg.dropInList(),
		"store", d.queueDescription(), "socket", cfg.Daemon.Socket, "log", d.logging.Target)
	for _, w := range pathWarnings(cfg, false) {
		d.log.Warn(w)
	}

	poolCtx, stopPool := context.WithCancel(context.Background())
	defer stopPool()
	poolDone := make(chan error, 1)
	started := make(chan struct{})
	wd := watchdogInterval()
	// The loop beats even when idle: /readyz reads the beat, and the
	// systemd watchdog, when armed, is fed from it.
	beat, beatEvery := d.beat.heartbeat(wd, d.notify.watchdog)
	go func() {
		poolDone <- d.pool.Run(poolCtx, worker.RunOptions{
			Drain:          func() time.Duration { return d.config().Daemon.ShutdownTimeout.Std() },
			Heartbeat:      beat,
			HeartbeatEvery: beatEvery,
			Started:        func() { close(started) },
		})
	}()
	<-started

	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(signals)

	d.notify.ready(d.statusLine(context.Background()))
	if d.detached {
		d.notify.detach()
	}
	stopCharts := d.runCharts()
	defer stopCharts()
	d.schedules.apply(cfg)
	defer d.schedules.stop()
	d.log.Info("ready", append(append([]any{"queues", len(cfg.Queues)}, cfg.nameCounts()...), "watchdog", wd)...)

	statusTick := time.NewTicker(statusEvery)
	defer statusTick.Stop()
	refresher := newStatusRefresher(d)
	defer refresher.stop()
	idle := newIdleMemory()
	idleTick := time.NewTicker(idleEvery)
	defer idleTick.Stop()
	retention := newRetentionRunner(d)
	retentionTick := time.NewTicker(retentionEvery)
	defer retentionTick.Stop()
	for {
		select {
		case sig := <-signals:
			switch sig {
			case syscall.SIGHUP:
				_ = d.reload() // a refused config is logged; the old one runs on
			case syscall.SIGUSR1:
				refresher.logUnlessRunning()
			default:
				d.log.Info("stopping", "signal", sig.String())
				refresher.stop()
				d.schedules.stop() // no tick goes in once the daemon stops
				return d.stop(stopPool, poolDone)
			}
		case <-statusTick.C:
			refresher.refreshUnlessRunning()
		case <-idleTick.C:
			if freed := idle.tick(d.pool.Stats()); freed > 0 {
				d.log.Debug("quiet: free heap handed back to the kernel", "bytes", freed)
			}
		case <-retentionTick.C:
			retention.runUnlessRunning(poolCtx)
		case err := <-poolDone:
			// The pool only returns on its own when it has failed.
			return d.fatal(fmt.Errorf("dispatch loop ended: %v", err))
		case err := <-d.server.failed:
			return d.fatal(fmt.Errorf("control socket: %v", err))
		}
	}
}

// fatal ends a running daemon on an error it cannot recover from.
func (d *daemon) fatal(err error) int {
	d.log.Error("stopping on error", "err", err)
	d.notify.failed(err)
	fmt.Fprintf(d.opts.Stderr, "kilnd: %v\n", err)
	return ExitFailure
}

// close releases what start opened, last first.
func (d *daemon) close() {
	d.closePlugins()
	if d.queue != nil {
		d.queue.Close()
	}
	if d.stateLock != nil {
		d.stateLock.Release()
	}
	if d.pidfile != nil {
		d.pidfile.Release()
	}
	if d.logging != nil {
		d.logging.Close()
	}
}
