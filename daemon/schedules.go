package daemon

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"time"

	"kiln/internal/schedule"
	"kiln/worker"
)

// Schedules submit a job at each tick. Every schedule runs under a lead of
// its own (worker.Leader): on RabbitMQ one host at a time submits its
// ticks, and the lead's saved state, the time up to which the schedule's
// ticks are handled, moves to the next leader; on the local backend the
// lead is this process's and the state is a file under state_dir. A tick's
// job ID is derived from the schedule's name and the tick's time
// (schedule.TickID) and is submitted with SubmitOnce: two leaders for a
// moment, or a crash between the submit and the save, can only submit the
// tick's job again, never a second one.

// tickGrace is how late a tick may be handled and still be on time; older
// ones were missed (no kilnd ran the schedule) and go by catch_up.
const tickGrace = 10 * time.Second

// tickRetry is the wait before a tick whose submit failed is tried again.
const tickRetry = 5 * time.Second

// leadPrefix names a schedule's lead.
const leadPrefix = "schedule."

// scheduleRunner runs the configured schedules and follows reloads.
type scheduleRunner struct {
	d      *daemon
	leader worker.Leader
	once   worker.OnceSubmitter

	mu      sync.Mutex
	running map[string]*runningSchedule
	stopped bool
}

// scheduleState is what GET /v1/schedules says of one schedule here.
type scheduleState struct {
	leading bool
	lastErr string
}

// runningSchedule is one schedule as it runs on this host.
type runningSchedule struct {
	cfg    ScheduleConfig
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	st scheduleState
}

// update changes the schedule's state under its lock.
func (rs *runningSchedule) update(change func(st *scheduleState)) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	change(&rs.st)
}

func (rs *runningSchedule) state() scheduleState {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.st
}

// openSchedules makes the runner of the schedules, which serve starts
// once the daemon is ready; a backend that cannot submit a job once under
// its ID has none (every backend here can).
func (d *daemon) openSchedules() error {
	once, ok := any(d.queue).(worker.OnceSubmitter)
	if !ok {
		return fmt.Errorf("schedules: the %s backend cannot submit a job under a chosen ID", d.config().Broker.Backend)
	}
	leader := d.leader()
	if leader == nil {
		l, err := openFileLeads(d.config().Daemon.StateDir)
		if err != nil {
			return err
		}
		leader = l
	}
	d.schedules = &scheduleRunner{d: d, leader: leader, once: once, running: map[string]*runningSchedule{}}
	return nil
}

// apply starts the schedules cfg has and this runner does not run as they
// are written, and stops the others: a changed schedule starts again.
func (r *scheduleRunner) apply(cfg *Config) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	for name, rs := range r.running {
		if next, ok := cfg.Schedules[name]; ok && reflect.DeepEqual(next, rs.cfg) {
			continue
		}
		rs.cancel()
		<-rs.done
		delete(r.running, name)
		why := "removed from the config"
		if _, ok := cfg.Schedules[name]; ok {
			why = "changed: it starts again as written"
		}
		r.d.log.Info("schedule stopped", "schedule", name, "why", why)
	}
	for name, sc := range cfg.Schedules {
		if _, ok := r.running[name]; ok {
			continue
		}
		spec := cfg.scheduleSpecs[name]
		ctx, cancel := context.WithCancel(context.Background())
		rs := &runningSchedule{cfg: sc, cancel: cancel, done: make(chan struct{})}
		r.running[name] = rs
		go func() {
			defer close(rs.done)
			r.leader.Lead(ctx, leadPrefix+name, func(ctx context.Context, state worker.LeadState) {
				rs.update(func(st *scheduleState) { st.leading = true })
				defer rs.update(func(st *scheduleState) { st.leading = false })
				r.lead(ctx, name, rs, spec, state)
			})
		}()
		r.d.log.Info("schedule started", "schedule", name, "spec", spec.String(), "catch_up", string(sc.catchUp()), "next_tick", spec.Next(time.Now()).Format(time.RFC3339))
	}
}

// stop ends every schedule and waits for them.
func (r *scheduleRunner) stop() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.stopped = true
	running := maps.Clone(r.running)
	r.mu.Unlock()
	for _, rs := range running {
		rs.cancel()
	}
	for _, rs := range running {
		<-rs.done
	}
}

// lead submits the schedule's ticks while this process leads it.
func (r *scheduleRunner) lead(ctx context.Context, name string, rs *runningSchedule, spec schedule.Spec, state worker.LeadState) {
	log := r.d.log.With("schedule", name)
	handled := time.Now()
	if v, ok := state.Saved(); ok && v > 0 {
		handled = time.UnixMilli(int64(v))
	} else if err := state.Save(ctx, uint64(handled.UnixMilli())); err != nil {
		// A schedule that never ran starts with its next tick; if this
		// could not be saved, the next leader starts from its own now.
		log.Warn("schedule: could not save where it starts", "err", err)
	}
	mode := rs.cfg.catchUp()
	for {
		now := time.Now()
		ticks, dropped := schedule.Due(spec, mode, handled, now, tickGrace, maxCatchUp)
		if dropped > 0 {
			log.Warn("schedule missed ticks while no kilnd ran it; catch_up leaves them out", "missed", dropped, "catch_up", string(mode), "since", handled.Format(time.RFC3339))
		}
		var failed error
		for _, tick := range ticks {
			if err := r.submitTick(ctx, name, rs.cfg, tick); err != nil {
				failed = err
				break
			}
			handled = tick
		}
		if failed == nil {
			handled = now
		}
		if err := state.Save(ctx, uint64(handled.UnixMilli())); err != nil && ctx.Err() == nil {
			log.Warn("schedule: could not save how far its ticks are handled; the next leader may submit a tick's job again, which is the same job", "err", err)
			failed = cmp.Or(failed, err)
		}
		rs.update(func(st *scheduleState) {
			st.lastErr = ""
			if failed != nil {
				st.lastErr = failed.Error()
			}
		})
		next := spec.Next(handled)
		if next.IsZero() {
			log.Warn("schedule has no next tick within five years")
			<-ctx.Done()
			return
		}
		wait := time.Until(next)
		if failed != nil {
			if ctx.Err() != nil {
				return
			}
			log.Error("schedule: a tick's submit failed; trying again", "err", failed, "in", tickRetry)
			wait = min(wait, tickRetry)
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// submitTick submits the job of one tick, checked as a submit is.
func (r *scheduleRunner) submitTick(ctx context.Context, name string, sc ScheduleConfig, tick time.Time) error {
	j, err := r.d.buildJob(sc.submitRequest(), time.Now())
	if err != nil {
		r.d.metrics.ScheduleTick(name, tick, "failed")
		return fmt.Errorf("tick %s: the job is refused: %w", tick.Format(time.RFC3339), err)
	}
	j.ID = schedule.TickID(name, tick)
	dup, err := r.once.SubmitOnce(ctx, j)
	if err != nil {
		r.d.metrics.ScheduleTick(name, tick, "failed")
		return fmt.Errorf("tick %s: submit job %s: %w", tick.Format(time.RFC3339), j.ID, err)
	}
	if dup {
		r.d.metrics.ScheduleTick(name, tick, "duplicate")
		r.d.log.Info("schedule tick's job was submitted already", "schedule", name, "tick", tick.Format(time.RFC3339Nano), "job", j.ID, "state", string(j.State))
		return nil
	}
	r.d.metrics.ScheduleTick(name, tick, "submitted")
	r.d.log.Info("schedule submitted its tick's job", "schedule", name, "tick", tick.Format(time.RFC3339Nano), "job", j.ID, "queue", j.Queue)
	return nil
}

// states is each running schedule's state on this host.
func (r *scheduleRunner) states() map[string]scheduleState {
	out := map[string]scheduleState{}
	if r == nil {
		return out
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, rs := range r.running {
		out[name] = rs.state()
	}
	return out
}
