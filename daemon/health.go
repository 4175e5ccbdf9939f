package daemon

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Health routes: a load balancer or a monitor asks them, on the TCP
// listener without a token. They answer in plain text, "ok" or "not ready:
// REASON", and say nothing there that an attacker could use: the reason is
// one of the words below. On the control socket, which only root and
// the kiln group reach, /readyz says why in full.
const (
	healthzPath = "/healthz"
	readyzPath  = "/readyz"
)

// The reasons /readyz gives on TCP.
const (
	reasonStopping = "stopping" // the daemon has begun to stop
	reasonBroker   = "broker"   // the broker cannot take jobs
	reasonStore    = "store"    // the local store does not answer
	reasonDispatch = "dispatch" // the dispatch loop has not started, or has not turned within its bound
)

// storeProbeTimeout bounds how long /readyz waits for the local store's
// read: a store that takes longer is not usable for a client either.
const storeProbeTimeout = time.Second

// healthz is liveness: the process answers.
func (s *controlServer) healthz(w http.ResponseWriter, r *http.Request) {
	writeHealth(w, http.StatusOK, "ok")
}

// readyz is readiness: the store or the broker can be used and the
// dispatch loop turns. It is cheap enough to be asked every second: two
// atomic reads, and a small read of the local store (one at a time,
// however many ask) or the broker connection's state.
func (s *controlServer) readyz(w http.ResponseWriter, r *http.Request) {
	nr := s.d.readiness(r.Context())
	if nr == nil {
		writeHealth(w, http.StatusOK, "ok")
		return
	}
	msg := "not ready: " + nr.reason
	if g := guardOf(r.Context()); g != nil && !g.tcp {
		msg += ": " + nr.detail
	}
	writeHealth(w, http.StatusServiceUnavailable, msg)
}

func writeHealth(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// notReady is why the daemon is not ready: a reason word that TCP clients
// see, and the detail for the control socket.
type notReady struct {
	reason string
	detail string
}

// brokerSyncing is a backend on a broker that may still be reading its job
// records up to date, when answers from them would not be right yet.
type brokerSyncing interface {
	Syncing() (bool, int64)
}

// readiness is nil when the daemon can take and run jobs, or says why not.
func (d *daemon) readiness(ctx context.Context) *notReady {
	if d.stopping.Load() {
		return &notReady{reasonStopping, "kilnd is stopping: it takes no new jobs and finishes the running ones"}
	}
	if h, ok := d.queue.(brokerHealth); ok {
		if err := h.Health(); err != nil {
			return &notReady{reasonBroker, err.Error()}
		}
		if sy, ok := d.queue.(brokerSyncing); ok {
			if syncing, offset := sy.Syncing(); syncing {
				return &notReady{reasonBroker, fmt.Sprintf("reading the job records from the broker (stream offset %d)", offset)}
			}
		}
	} else if err := d.storeProbe.check(ctx, storeProbeTimeout, d.readStore); err != nil {
		return &notReady{reasonStore, err.Error()}
	}
	age, started := d.beat.age()
	if !started {
		return &notReady{reasonDispatch, "the dispatch loop has not started yet"}
	}
	if bound := d.beat.staleAfter(); age > bound {
		return &notReady{reasonDispatch, fmt.Sprintf("the dispatch loop last turned %s ago (more than %s): it is stuck", age.Round(time.Millisecond), bound)}
	}
	return nil
}

// readStore is the local store's readiness read: its per-queue counters,
// which it reads without reading any job. It is a read only: a write
// would cost a disk sync at each probe. A store that reads but cannot
// write (a full disk) answers submits 503 and says why.
func (d *daemon) readStore(ctx context.Context) error {
	if _, err := d.queue.Stats(ctx); err != nil {
		return fmt.Errorf("the queue store does not answer: %w", err)
	}
	return nil
}

// storeProbe runs one read of the store at a time: readiness asked by many
// at once shares the read in flight, so a flood of unauthenticated
// /readyz requests costs the store no more than one reader.
type storeProbe struct {
	mu     sync.Mutex
	flight *probeFlight // the read in flight; nil when none
}

type probeFlight struct {
	done chan struct{} // closed when err is set
	err  error
}

// check joins the read in flight, or starts one, and waits for its outcome
// up to timeout.
func (p *storeProbe) check(ctx context.Context, timeout time.Duration, read func(context.Context) error) error {
	p.mu.Lock()
	f := p.flight
	if f == nil {
		f = &probeFlight{done: make(chan struct{})}
		p.flight = f
		// The read is no one request's: it outlives a client that leaves.
		go func() {
			rctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			f.err = read(rctx)
			p.mu.Lock()
			p.flight = nil
			p.mu.Unlock()
			close(f.done)
		}()
	}
	p.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-f.done:
		return f.err
	case <-timer.C:
		return fmt.Errorf("the queue store did not answer a read within %s", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}
