package daemon

import "context"

// statusRefresher sends systemd the status line (STATUS=) from a goroutine
// of its own, one refresh at a time. The line asks the queue for its
// counts, which on the rabbitmq backend a host that keeps no records asks
// of another host: with none of those up, each question waits out its
// timeout, and the main loop must meanwhile still take signals (a SIGTERM
// waited behind such refreshes for more than 30 s).
type statusRefresher struct {
	d      *daemon
	idle   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
}

func newStatusRefresher(d *daemon) *statusRefresher {
	r := &statusRefresher{d: d, idle: make(chan struct{}, 1)}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.idle <- struct{}{}
	return r
}

// refreshUnlessRunning starts a refresh that sends its line to systemd,
// unless one is under way.
func (r *statusRefresher) refreshUnlessRunning() {
	r.startUnlessRunning(r.d.notify.status)
}

// logUnlessRunning logs the status line (SIGUSR1), unless a refresh is
// under way.
func (r *statusRefresher) logUnlessRunning() {
	logLine := func(line string) { r.d.log.Info("status", "summary", line, "config", r.d.config().Source) }
	if !r.startUnlessRunning(logLine) {
		logLine("a status refresh is under way; ask again")
	}
}

// startUnlessRunning makes the status line in a goroutine and hands it to
// use, unless a refresh is under way; it reports whether it started one.
// A line made as the daemon stops is dropped.
func (r *statusRefresher) startUnlessRunning(use func(line string)) bool {
	select {
	case <-r.idle:
	default:
		return false
	}
	go func() {
		defer func() { r.idle <- struct{}{} }()
		line := r.d.statusLine(r.ctx)
		if r.ctx.Err() == nil {
			use(line)
		}
	}()
	return true
}

// stop ends the refresh under way, if any, and keeps later ones from
// sending a status over the daemon's stopping one.
func (r *statusRefresher) stop() { r.cancel() }
