// Package daemon is kilnd being a Linux daemon: configuration, the
// single-instance pidfile, detaching, sd_notify and the watchdog, signals,
// logging and the control socket. The queue and the jobs are package
// worker's business; the daemon knows no job kinds: the plugins that kilnd's
// main hands it bring them, with their part of the config file, and the
// daemon routes jobs by type.
package daemon

import (
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"kiln/daemon/chartstore"
	"kiln/daemon/metrics"
	"kiln/worker"
)

// Exit codes, after sysexits.h, so that a unit can refuse to restart on a
// config error (RestartPreventExitStatus=78).
const (
	ExitOK             = 0
	ExitFailure        = 1
	ExitUsage          = 64
	ExitConfig         = 78
	ExitAlreadyRunning = 69 // EX_UNAVAILABLE: another instance holds the pidfile or the state
)

// Options are kilnd's command-line settings.
type Options struct {
	ConfigPath  string
	Dev         bool // use the embedded development config
	CheckConfig bool
	PrintConfig bool // print the merged config with each value's origin
	Detach      bool
	Version     string
	Args        []string // the full command line, for re-exec when detaching
	Stdout      io.Writer
	Stderr      io.Writer
}

// daemon is what the running daemon's parts share. Its config is one
// immutable snapshot, swapped whole on reload: every part reads it through
// config() and none keeps a copy.
type daemon struct {
	opts     Options
	cfg      atomic.Pointer[Config]
	reloadMu sync.Mutex // one reload at a time, by signal or by request

	logging  *Logging
	log      *slog.Logger
	notify   *notifier
	detached bool

	// plugins bring the job kinds and their tables, in the order kilnd's
	// main registered them; each Config holds their parts in that order.
	plugins []worker.Plugin
	pidfile *Pidfile
	queue   worker.Queue
	kinds   worker.Kinds
	pool    *worker.Pool
	server  *controlServer
	metrics *metrics.Metrics
	http    *httpListener // nil unless [http] listen is set
	// charts is the store of the dashboard's charts, nil on a host that
	// asks another for them (asked).
	charts *chartstore.Store
	asked  askedCharts
	// schedules runs the [schedules]; nil until the daemon serves.
	schedules *scheduleRunner
	// stopPlugins ends the plugins' own work (worker.Runner); nil until
	// it runs.
	stopPlugins func()
	// stateLock is state_dir's kilnd.lock, held as the pidfile is.
	stateLock *Pidfile
	// startLoads are the files the start checks loaded for the start to use.
	startLoads startLoads

	started time.Time
	purged  atomic.Int64

	// beat is the dispatch loop's heartbeat, stopping set once the daemon
	// has begun to stop, and storeProbe the read that tells whether the
	// local store answers: what /readyz reads.
	beat       dispatchBeat
	stopping   atomic.Bool
	storeProbe storeProbe
}

func (d *daemon) config() *Config { return d.cfg.Load() }

// queues is the pool's view of the current config.
func (d *daemon) queues() map[string]worker.QueueConfig { return d.config().Queues }
