package image

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"

	"kiln/worker"
	"kiln/worker/inbox"
)

// A pipeline's inbox (package inbox): the pictures dropped there become
// jobs of the pipeline. Its keys take effect at a restart.

// KeepsInbox reports whether a picture whose job succeeded stays in the
// inbox's done/ (inbox_keep, true unless set false).
func (p *Pipeline) KeepsInbox() bool { return p.InboxKeep == nil || *p.InboxKeep }

// fillInboxes makes each inbox absolute.
func (c *Config) fillInboxes(view *worker.ConfigView) {
	for name, p := range c.Pipelines {
		if p.Inbox == "" {
			continue
		}
		if !filepath.IsAbs(p.Inbox) {
			p.Inbox = filepath.Join(view.ConfigDir, p.Inbox)
		}
		p.Inbox = filepath.Clean(p.Inbox)
		c.Pipelines[name] = p
	}
}

// inputLimits are the limits on a job's input of this pipeline: l, whose
// roots also hold the pictures its inbox has taken, whatever
// allowed_input_roots says. An operator who names an inbox means kiln to
// read what is dropped there, for this pipeline.
func (p *Pipeline) inputLimits(l InputLimits) InputLimits {
	if p.Inbox != "" {
		l.AllowedInputRoots = append(slices.Clip(l.AllowedInputRoots), inbox.ProcessingDir(p.Inbox))
	}
	return l
}

// checkInboxes reports an inbox at a place that cannot be one, and two
// pipelines sharing one: each picture would be taken by whichever saw it
// first.
func (c *Config) checkInboxes(problems worker.Problems) {
	owner := map[string]string{}
	for _, name := range c.pipelineNames() {
		p := c.Pipelines[name]
		key := "pipelines." + name
		if p.InboxSettle < 0 {
			problems.Report(key+".inbox_settle", "must not be negative")
		}
		if p.Inbox == "" {
			if p.InboxKeep != nil {
				problems.Report(key+".inbox_keep", "is set but inbox is not")
			}
			continue
		}
		switch other, taken := owner[p.Inbox]; {
		case p.Inbox == "/":
			problems.Report(key+".inbox", "must not be /: kiln moves the files it takes out of the inbox")
		case taken:
			problems.Report(key+".inbox", fmt.Sprintf("%s is the inbox of pipeline %s too", p.Inbox, other))
		}
		owner[p.Inbox] = name
	}
}

// inboxPaths lists each inbox as a directory kiln writes into, so that
// -check-config says when kilnd cannot write there or the unit does not
// let it.
func (c *Config) inboxPaths() []worker.ConfigPath {
	var out []worker.ConfigPath
	for _, name := range c.pipelineNames() {
		if dir := c.Pipelines[name].Inbox; dir != "" {
			out = append(out, worker.ConfigPath{
				Key: "pipelines." + name + ".inbox", Path: dir, Use: worker.PathOutputDir,
				For: "the pictures dropped in pipeline " + name + "'s inbox",
			})
		}
	}
	return out
}

// inboxes are the inboxes of this config.
func (c *Config) inboxes() []inbox.Config {
	var out []inbox.Config
	for _, name := range c.pipelineNames() {
		p := c.Pipelines[name]
		if p.Inbox != "" {
			out = append(out, inbox.Config{Pipeline: name, Dir: p.Inbox, Keep: p.KeepsInbox(), Settle: p.InboxSettle.Std()})
		}
	}
	return out
}

// reloadInboxes keeps the inboxes of the running config in next: they are
// followed from the start, so a change waits for a restart.
func reloadInboxes(cur, next *Config) (needsRestart []string) {
	for _, name := range next.pipelineNames() {
		n := next.Pipelines[name]
		o := cur.Pipelines[name]
		if n.Inbox == o.Inbox && n.KeepsInbox() == o.KeepsInbox() && n.InboxSettle == o.InboxSettle {
			continue
		}
		n.Inbox, n.InboxKeep, n.InboxSettle = o.Inbox, o.InboxKeep, o.InboxSettle
		next.Pipelines[name] = n
		needsRestart = append(needsRestart, "pipelines."+name+".inbox")
	}
	return needsRestart
}

var _ worker.Runner = (*plugin)(nil)

// Run implements worker.Runner: it follows the inboxes of the config kilnd
// started with until ctx is done.
func (p *plugin) Run(ctx context.Context) {
	runInboxes(ctx, *p.host, p.host.Config().(*Config))
}

func runInboxes(ctx context.Context, host worker.Host, cfg *Config) {
	events := host.Events
	if host.Leader != nil {
		// The fleet's log: every host would read every host's events to
		// learn the ends of its own few jobs, which polling them costs less.
		events = nil
	}
	jobs := &inbox.QueueJobs{
		SubmitJobs: host.Submit, Queue: host.Queue, Events: events, JobType: JobType,
		DerivedIDs: host.View().Backend == "rabbitmq",
		Payload: func(p inbox.Picture) (json.RawMessage, error) {
			return json.Marshal(Payload{Pipeline: p.Pipeline, Input: p.Input})
		},
	}
	inbox.Run(ctx, jobs, cfg.inboxes(), host.Log)
}

// noteInboxRun tells a picture's inbox which job runs it, before the job
// reads it (inbox.NoteRunning).
func noteInboxRun(pl Pipeline, input, jobID string) error {
	if pl.Inbox == "" {
		return nil
	}
	return inbox.NoteRunning(pl.Inbox, input, jobID)
}
