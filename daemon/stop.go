package daemon

import (
	"context"
	"time"
)

// stop takes no new work, lets running jobs finish within the shutdown
// timeout, and leaves everything else queued.
func (d *daemon) stop(stopPool context.CancelFunc, poolDone <-chan error) int {
	// /readyz says so from now on, so that a load balancer sends its
	// clients elsewhere while the running jobs finish.
	d.stopping.Store(true)
	d.notify.stopping()
	stopPool()
	err := <-poolDone
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := d.server.shutdown(ctx); serr != nil {
		d.log.Warn("control socket did not close cleanly", "err", serr)
	}
	if herr := d.http.shutdown(ctx); herr != nil {
		d.log.Warn("http listener did not close cleanly", "err", herr)
	}
	if err != nil {
		d.log.Error("stopped with jobs still running", "err", err)
		return ExitFailure
	}
	d.log.Info("stopped")
	return ExitOK
}
