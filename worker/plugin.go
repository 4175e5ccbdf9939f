package worker

import (
	"context"
	"encoding/json"
	"log/slog"
)

// A plugin brings job kinds to kilnd together with their part of the
// config file: its tables, their defaults, derived values and checks, the
// checks of the files they name, what a reload does and what a shutdown
// stops. The daemon knows no plugin by name: kilnd's main hands it the
// plugins of the build, and the daemon drives each through the interfaces
// below, in this order:
//
//	NewConfig   for each config file read (start, -check-config, reload)
//	AddQueues   optional (QueueAdder), after the daemon's own queues
//	Fill        once every queue is known
//	Check       with the daemon's own checks; every problem at once
//	CheckStart  optional (StartChecker): start and -check-config
//	Start       once, after the queue backend is open
//	Run         optional (Runner), once every plugin has started
//	Reload      at each reload, before the new config is swapped in
//	Reloaded    at each reload, once it is in effect
//	Close       once, at shutdown

// Plugin is one job kind, or a family of kinds, plugged into the daemon.
type Plugin interface {
	// Name names the plugin in logs and messages, such as "image"; two
	// plugins of one name are a programming error.
	Name() string
	// NewConfig returns a new config of the plugin: a pointer to a struct
	// whose toml-tagged fields are the plugin's top-level tables (such as
	// [images] and [pipelines]), holding their defaults. The daemon
	// decodes the config file onto it with its own tables, key by key, so
	// that every problem is reported with its file, line and key; a key
	// neither the daemon nor any plugin claims is an unknown key, and two
	// plugins that claim one table are a programming error. A new entry of
	// a map of tables starts from its type's SetDefaults (EntryDefaulter),
	// else from its zero value.
	NewConfig() PluginConfig
	// Start runs the plugin under the config the daemon starts with and
	// returns the kinds it runs. It is called once, after the start checks
	// passed and the queue backend is open, before the dispatch loop and
	// the listeners start; an error ends the start. Background work waits
	// for Run: host.Kind and host.Submit may be used from Run on.
	Start(host Host) ([]Kind, error)
	// Reload is handed the plugin's part of a new config, filled and
	// checked, before the daemon swaps it in. A problem reported refuses
	// the reload whole: the running config stays, none of the new one
	// applies. Nothing of next may take effect before Reloaded. Reload may
	// put back into next the values that only a restart can change, and
	// returns their keys, which the daemon logs as "needs restart: KEY".
	Reload(next PluginConfig, problems Problems) (needsRestart []string)
	// Reloaded is called once the new config is in effect (host.Config
	// answers it), for the parts that act on a change rather than read the
	// config at their next step.
	Reloaded()
	// Close stops what Start started, once Run has returned. It is called
	// once at shutdown, after the dispatch loop has ended; also when Start
	// failed or never ran.
	Close()
}

// PluginConfig is a plugin's part of one config file, made by NewConfig
// and decoded by the daemon. Once Fill has run it is never changed (but
// by its plugin's Reload, before it is in effect): a reload makes a new
// one, and the daemon swaps the whole config in at once, so every part
// reads one consistent snapshot.
type PluginConfig interface {
	// Fill sets the values that follow from others (a pipeline's default
	// queue, the threads of a worker process) and makes the plugin's
	// relative paths absolute, from view.ConfigDir. It runs once, before
	// Check, whether or not the file has problems.
	Fill(view *ConfigView)
	// Check reports every value of the plugin's tables that is out of
	// bounds or at odds with the daemon's settings (a queue that is not
	// configured), each under its full key ("pipelines.web.output_dir").
	// It changes nothing and reads no file: files are CheckStart's.
	Check(view *ConfigView, problems Problems)
}

// ConfigView is the daemon's own settings as a plugin's config sees them.
// It is read-only: a plugin that changes it changes the daemon's config.
type ConfigView struct {
	// ConfigDir is the directory that relative paths in the file are
	// taken from.
	ConfigDir string
	// StateDir is daemon.state_dir, absolute.
	StateDir string
	// Queues are every queue that is configured: the file's, the default
	// queue and those the plugins add (QueueAdder; before AddQueues, only
	// the file's and the default one).
	Queues map[string]QueueConfig
	// DefaultQueue is the queue a job goes to when neither its submitter
	// nor its kind names one; it always exists.
	DefaultQueue string
	// Backend is the queue backend, as broker.backend names it: "local"
	// or "rabbitmq".
	Backend string
	// Shared says whether the queue is shared with other hosts (the
	// rabbitmq backend): what must happen once across them is not kept in
	// this host's files.
	Shared bool
	// NotifyURLs are every notify_url the file sets, the queues' and those
	// of the plugins' tables (NotifyURLLister), sorted by key.
	NotifyURLs []NotifyURL
	// JobTypes are the job types a step of a chain may run as, which a
	// table's then may name: noop, the daemon's own, and those every
	// plugin's config defines (JobTypeLister), sorted. A plugin sees only
	// its own tables; this is how it checks a then that names another
	// plugin's type.
	JobTypes []string
}

// NotifyURL is one notify_url a config sets, with its full key.
type NotifyURL struct {
	Key string // such as "queues.q.notify_url"
	URL string
}

// Problems collects the problems of one config file. Each is worded
// file:line: key: message, the line being the one that sets key (file:
// key: message for a key the file does not set), and all of them are
// reported at once, in the file's order.
type Problems interface {
	// Report adds a problem of the value at key, written in full
	// ("pipelines.web.variants[1].width").
	Report(key, msg string)
	// ReportTransient adds a problem that may pass by itself, such as a
	// name server that did not answer: a start that meets only such
	// problems is a failure worth retrying, not a config error.
	ReportTransient(key, msg string)
}

// Host is what the daemon gives a plugin at Start.
type Host struct {
	// Config returns the plugin's part of the config in effect (the value
	// its NewConfig made). Ask it at each use rather than keep it, so that
	// a reload applies at once.
	Config func() PluginConfig
	// View returns the daemon's settings in effect.
	View func() *ConfigView
	// Queue is the queue backend.
	Queue Queue
	// Events is the backend's event log; nil when it keeps none. On a
	// backend shared by several hosts (Leader set) it is the fleet's log,
	// the same on every host.
	Events EventLog
	// Leader is set when the queue is shared with other hosts: a task that
	// must happen once across them (announcing each event) runs under it.
	Leader Leader
	// Kind returns the kind that runs a job type, whichever plugin brought
	// it; nil for none. It answers from Run on.
	Kind func(jobType string) Kind
	// Submit queues jobs, all or none, checked and filled in as the
	// control API checks a submit (the kind's Admit, the queue's
	// max_attempts). It may be used from Run on.
	Submit func(ctx context.Context, jobs []JobRequest) error
	// Observer is the daemon's metrics. A plugin asserts it to an observer
	// interface of its own and does without when it is not one.
	Observer any
	// Log is the daemon's logger.
	Log *slog.Logger
}

// JobRequest is a job a plugin submits through Host.Submit.
type JobRequest struct {
	Type      string
	Queue     string // "" for the kind's queue, else the default one
	Payload   json.RawMessage
	UniqueKey string // "" for none
	// ID is the job's ID, "" for one the backend gives it. A backend
	// without unique keys (rabbitmq) takes a second job of an ID it knows
	// for the same job, so a plugin that must never submit one thing
	// twice derives the ID from that thing instead.
	ID string
}

// What a plugin or its config may do beyond the interfaces above. The
// daemon asks for these with a type assertion and does without where a
// plugin has none.

// QueueAdder is a config that brings queues of its own (the webhook
// plugin's _webhooks). Each is added with the settings returned where the
// file has no table of that name; a table in the file wins whole.
type QueueAdder interface {
	AddQueues(view *ConfigView) map[string]QueueConfig
}

// NotifyURLLister is a config whose tables set notify_urls of their own
// (a pipeline's), so that whoever announces job ends can check them and
// knows it is needed (ConfigView.NotifyURLs).
type NotifyURLLister interface {
	NotifyURLs() []NotifyURL
}

// JobTypeLister is a config whose tables define job types that a step of
// a chain may run as (ConfigView.JobTypes): the image plugin's image, one
// per [commands.NAME] table. Types whose jobs only kiln itself submits,
// such as webhook deliveries, are not listed: no job's result is their
// payload.
type JobTypeLister interface {
	JobTypes() []string
}

// StartChecker is a config that names files or other things of the
// machine: kilnd -check-config and a start check them before the start
// touches anything, in the start checks' words. They are not run again at
// a reload: Plugin.Reload checks what a reload puts in use.
type StartChecker interface {
	CheckStart(view *ConfigView, problems Problems)
}

// PathLister is a config that names files kiln reads or writes, or
// directories its jobs write into: the daemon checks that no file it
// writes is another one the config names, and warns of an output
// directory that kilnd cannot write.
type PathLister interface {
	Paths(view *ConfigView) []ConfigPath
}

// ConfigPath is one path a config makes kiln use.
type ConfigPath struct {
	Key  string // the key to report it under, such as "webhooks.secret_file"
	Path string // absolute
	// Name is how an operator would call it in a message, such as "the
	// webhook cursor (webhooks.cursor in daemon.state_dir)"; "" for Key.
	Name string
	Use  PathUse
	// For is whose work fails while kilnd cannot write an OutputDir, such
	// as "jobs of pipeline web".
	For string
}

// PathUse is how kiln uses a ConfigPath.
type PathUse int

const (
	// PathRead is a file kiln only reads.
	PathRead PathUse = iota
	// PathWritten is a file kiln creates, replaces or removes.
	PathWritten
	// PathOutputDir is a directory jobs write into, created as needed.
	PathOutputDir
)

// NameLister is a config whose tables define names that clients may
// offer (pipelines, commands). The daemon's status answers them, by what
// they are: {"pipelines": ["thumbs", "web"]}.
type NameLister interface {
	Names() map[string][]string
}

// EntryDefaulter is an entry of a map of tables ([pipelines.NAME],
// [commands.NAME]) whose defaults are not its zero value: the decoder
// calls SetDefaults on each new entry before it decodes the entry's keys.
type EntryDefaulter interface {
	SetDefaults()
}

// Runner is a plugin with work of its own besides running its jobs, such
// as following the event log. Run is called once, in a goroutine of its
// own, once every plugin has started, and returns when ctx is done; it
// logs its own failures. Close is called after it has returned.
type Runner interface {
	Run(ctx context.Context)
}

// Warner is a config with settings that are valid but most likely not what
// the operator meant, such as a list that allows nothing: kilnd
// -check-config prints each warning, and a start and a reload log them.
type Warner interface {
	Warnings(view *ConfigView) []string
}
