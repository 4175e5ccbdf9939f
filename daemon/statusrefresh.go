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

// refreshUnlessRunning starts a refresh, unless one is under way.
func (r *statusRefresher) refreshUnlessRunning() {
	select {
	case <-r.idle:
		go func() {
			defer func() { r.idle <- struct{}{} }()
			line := r.d.statusLine(r.ctx)
			if r.ctx.Err() == nil {
				r.d.notify.status(line)
			}
		}()
	default:
	}
}

// logUnlessRunning logs the status line (SIGUSR1), unless a refresh is
// under way.
func (r *statusRefresher) logUnlessRunning() {
	select {
	case <-r.idle:
		go func() {
			defer func() { r.idle <- struct{}{} }()
			r.d.log.Info("status", "summary", r.d.statusLine(r.ctx), "config", r.d.config().Source)
		}()
	default:
		r.d.log.Info("status", "summary", "a status refresh is under way; ask again", "config", r.d.config().Source)
	}
}

// stop ends the refresh under way, if any, and keeps later ones from
// sending a status over the daemon's stopping one.
func (r *statusRefresher) stop() { r.cancel() }
