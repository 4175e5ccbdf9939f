package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"kiln/api"
	"kiln/worker"
)

// The daemon's side of the plugins: it starts them, hands them what a
// Host holds, runs their background work, tells them of reloads and
// closes them. It knows each only as a worker.Plugin.

// registerKinds starts the plugins and registers the kinds they run, with
// noop, the daemon's own, and builds the pool that runs them.
func (d *daemon) registerKinds() error {
	kinds := []worker.Kind{worker.Noop{}}
	for i, p := range d.plugins {
		started, err := p.Start(d.pluginHost(i))
		if err != nil {
			return fmt.Errorf("start plugin %s: %w", p.Name(), err)
		}
		kinds = append(kinds, started...)
	}
	registered, err := worker.NewKinds(kinds...)
	if err != nil {
		return err
	}
	d.kinds = registered
	d.pool = worker.NewPool(d.queue, registered, d.queues, d.log)
	d.pool.Observe(d.poolObserver())
	return nil
}

// pluginHost is what the i-th plugin is given: its part of the config in
// effect, read at each use, and the daemon's parts it may use.
func (d *daemon) pluginHost(i int) worker.Host {
	return worker.Host{
		Config:   func() worker.PluginConfig { return d.config().plugins[i] },
		View:     func() *worker.ConfigView { return &d.config().view },
		Queue:    d.queue,
		Events:   d.eventLog(),
		Leader:   d.leader(),
		Kind:     func(jobType string) worker.Kind { return d.kinds[jobType] },
		Submit:   d.submitJobs,
		Observer: d.metrics,
		Log:      d.log,
	}
}

// submitJobs queues a plugin's jobs as the API would, in one batch, all or
// none.
func (d *daemon) submitJobs(ctx context.Context, reqs []worker.JobRequest) error {
	now := time.Now()
	jobs := make([]*worker.JobRecord, len(reqs))
	for i, r := range reqs {
		j, err := d.buildJob(api.SubmitRequest{Type: r.Type, Queue: r.Queue, Payload: r.Payload, UniqueKey: r.UniqueKey}, now)
		if err == nil && r.ID != "" {
			j.ID = r.ID
		}
		if err != nil {
			return fmt.Errorf("submit %s job %q: %w", r.Type, r.UniqueKey, err)
		}
		jobs[i] = j
	}
	_, err := d.queue.Submit(ctx, jobs...)
	return err
}

// runPlugins starts the plugins' own work (the webhook notifier following
// the event log) now that every kind is registered.
func (d *daemon) runPlugins() error {
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	for _, p := range d.plugins {
		if r, ok := p.(worker.Runner); ok {
			running.Add(1)
			go func() {
				defer running.Done()
				r.Run(ctx)
			}()
		}
	}
	d.stopPlugins = func() { cancel(); running.Wait() }
	return nil
}

// reloadPlugins hands each plugin its part of next before it is swapped
// in; a problem any reports refuses the reload. It returns the keys the
// plugins kept for a restart.
func (d *daemon) reloadPlugins(next *Config, problems *configProblems) []string {
	var restartOnly []string
	for i, p := range d.plugins {
		restartOnly = append(restartOnly, p.Reload(next.plugins[i], problems)...)
	}
	return restartOnly
}

// pluginsReloaded tells the plugins that the new config is in effect.
func (d *daemon) pluginsReloaded() {
	for _, p := range d.plugins {
		p.Reloaded()
	}
}

// closePlugins stops the plugins' work and then the plugins, last first.
func (d *daemon) closePlugins() {
	if d.stopPlugins != nil {
		d.stopPlugins()
	}
	for i := len(d.plugins) - 1; i >= 0; i-- {
		d.plugins[i].Close()
	}
}
