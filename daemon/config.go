package daemon

import (
	"bytes"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"kiln/internal/schedule"
	"kiln/worker"
)

// DefaultConfigPath is where packages install the config.
const DefaultConfigPath = "/etc/kiln/kiln.toml"

// DefaultQueue is the queue a job goes to when neither its submitter nor
// its kind names one (a pipeline that names none); it always exists.
const DefaultQueue = "default"

//go:embed dev.toml
var devConfig []byte

// DevConfigName stands for the embedded development config in messages.
const DevConfigName = "(embedded dev config)"

// Config is kilnd's configuration, as read from kiln.toml: the daemon's own
// tables, and each plugin's part of the file. A loaded Config is never
// changed: a reload loads a new one and the daemon swaps it in whole, so
// every part reads one consistent snapshot.
type Config struct {
	Daemon DaemonConfig                  `toml:"daemon"`
	Log    LogConfig                     `toml:"log"`
	Queues map[string]worker.QueueConfig `toml:"queues"`
	HTTP   HTTPConfig                    `toml:"http"`
	Events EventsConfig                  `toml:"events"`
	Broker BrokerConfig                  `toml:"broker"`
	Limits LimitsConfig                  `toml:"limits"`
	// Schedules are the periodic jobs, by name.
	Schedules map[string]ScheduleConfig `toml:"schedules"`

	// Source is the main file the config came from.
	Source string `toml:"-"`
	// files are the files read, the main one and its drop-ins, made
	// absolute (none for the embedded dev config); sources says which of
	// them set each key, on which line: the start checks name both.
	files   []string
	sources *configSources
	// tree is the merged TOML of the files, which -print-config follows
	// to tell a value a file sets from a default; ignored are the names
	// of conf.d that are not drop-ins.
	tree    map[string]any
	ignored []string
	// plugins are the plugins' parts of the file, in the order the
	// plugins were registered; view is the daemon's settings as they see
	// them.
	plugins []worker.PluginConfig
	view    worker.ConfigView
	// scheduleSpecs are the schedules' specs, parsed once per load for
	// the runner and GET /v1/schedules (a zone is read from disk).
	scheduleSpecs map[string]schedule.Spec
}

// DaemonConfig is the [daemon] table.
type DaemonConfig struct {
	StateDir        string   `toml:"state_dir"`
	Pidfile         string   `toml:"pidfile"`
	Socket          string   `toml:"socket"`
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
}

// LogConfig is the [log] table.
type LogConfig struct {
	Target         string `toml:"target"`
	Level          string `toml:"level"`
	SyslogFacility string `toml:"syslog_facility"`
	SyslogAddress  string `toml:"syslog_address"`
}

// Duration is a duration written as a string such as "30s".
type Duration = worker.Duration

// ConfigError lists every problem found in a config file, each with its
// file, line and key.
type ConfigError struct {
	Problems []string
	// Transient is set when every problem may go away by itself (a name
	// server that did not answer): a start fails, but not as a config
	// error.
	Transient bool
}

func (e *ConfigError) Error() string { return strings.Join(e.Problems, "\n") }

// defaultConfig is the config where the file says nothing.
func defaultConfig() Config {
	return Config{
		Daemon: DaemonConfig{
			StateDir:        "/var/lib/kiln",
			Pidfile:         "/run/kiln/kilnd.pid",
			Socket:          "/run/kiln/kiln.sock",
			ShutdownTimeout: Duration(30 * time.Second),
		},
		Log:    LogConfig{Target: "auto", Level: "info", SyslogFacility: "daemon"},
		HTTP:   HTTPConfig{Tokens: "/etc/kiln/tokens"},
		Events: EventsConfig{Keep: Duration(24 * time.Hour), Max: 1_000_000},
		Limits: defaultLimits(),
	}
}

// LoadConfig reads and validates a config file and its drop-ins (the
// *.toml files of the conf.d directory next to it, in name order), the
// daemon's tables and those of the plugins. Relative paths, in the file
// or in a drop-in, are taken from the main file's directory.
func LoadConfig(path string, plugins ...worker.Plugin) (*Config, error) {
	read, err := readConfigFiles(path)
	if err != nil {
		return nil, err
	}
	cfg, err := parseConfigFiles(read.files, filepath.Dir(read.files[0].path), plugins)
	if err != nil {
		return nil, err
	}
	for _, f := range read.files {
		cfg.files = append(cfg.files, f.path)
	}
	cfg.ignored = read.ignored
	return cfg, nil
}

// DevConfig returns the embedded development config with its paths under
// baseDir/var.
func DevConfig(baseDir string, plugins ...worker.Plugin) (*Config, error) {
	return parseConfig(DevConfigName, devConfig, baseDir, plugins)
}

// parseConfig turns one document into a Config, as parseConfigFiles does.
func parseConfig(name string, data []byte, baseDir string, plugins []worker.Plugin) (*Config, error) {
	return parseConfigFiles([]configFile{{name: name, data: data}}, baseDir, plugins)
}

// parseConfigFiles turns files, the main one first, into a Config in five
// steps: merge the files, decode every key onto the defaults, the daemon's
// and the plugins', fill in the values that follow from others, validate,
// and make paths absolute. Every problem of the decode and of the
// validation is reported, each as file:line: key: message, naming the
// file that set the key.
func parseConfigFiles(files []configFile, baseDir string, plugins []worker.Plugin) (*Config, error) {
	if err := checkPlugins(plugins); err != nil {
		return nil, err
	}
	names := make([]string, len(files))
	trees := make([]map[string]any, len(files))
	lines := make([]keyLines, len(files))
	var syntax []string
	for i, f := range files {
		names[i], lines[i] = f.name, scanKeyLines(f.data)
		if _, err := toml.Decode(string(f.data), &trees[i]); err != nil {
			// A syntax error ends the parse: nothing after it in that
			// file can be trusted, nor the merge of it. Each file's is
			// reported, so that one pass fixes them all.
			syntax = append(syntax, syntaxProblem(f.name, f.data, err))
		}
	}
	if len(syntax) > 0 {
		return nil, &ConfigError{Problems: syntax}
	}
	tree, sources := mergeTrees(names, trees, lines)
	problems := &configProblems{sources: sources}

	cfg := defaultConfig()
	tables := []reflect.Value{reflect.ValueOf(&cfg).Elem()}
	for _, p := range plugins {
		pc := p.NewConfig()
		cfg.plugins = append(cfg.plugins, pc)
		tables = append(tables, reflect.ValueOf(pc).Elem())
	}
	dec := &configDecoder{report: problems.report, entryDefaults: map[reflect.Type]func() reflect.Value{
		reflect.TypeOf(worker.QueueConfig{}): func() reflect.Value { return reflect.ValueOf(worker.DefaultQueueConfig()) },
	}}
	dec.decodeTables(tree, tables...)

	cfg.fillDerived(baseDir)
	cfg.validate(problems.report)
	for _, pc := range cfg.plugins {
		pc.Check(&cfg.view, problems)
	}
	if err := problems.err(); err != nil {
		return nil, err
	}
	cfg.resolvePaths(baseDir)
	cfg.Source = files[0].name
	cfg.sources = sources
	cfg.tree = tree
	return &cfg, nil
}

// problems starts a list of problems of this config.
func (c *Config) problems() *configProblems { return &configProblems{sources: c.sources} }

// keyProblem is err as a problem of key, naming the file and line that
// set it.
func (c *Config) keyProblem(key string, err error) error {
	p := c.problems()
	p.report(key, err.Error())
	return p.err()
}

// syntaxProblem words a TOML syntax error as file:line: message. The line
// is counted to where the error is: the decoder's own line is the next one
// when the error is at a newline ("[images" with no "]").
func syntaxProblem(name string, data []byte, err error) string {
	var perr toml.ParseError
	if errors.As(err, &perr) {
		line := perr.Position.Line
		if start := perr.Position.Start; start >= 0 && start <= len(data) {
			line = 1 + bytes.Count(data[:start], []byte("\n"))
		}
		return fmt.Sprintf("%s:%d: syntax error: %s", name, line, perr.Message)
	}
	return fmt.Sprintf("%s: %v", name, err)
}

// fillDerived sets the values that follow from other settings: the default
// queue, the queues the plugins add, and then what each plugin derives
// (a pipeline's queue, the threads of a worker process).
func (c *Config) fillDerived(baseDir string) {
	if c.Queues == nil {
		c.Queues = map[string]worker.QueueConfig{}
	}
	if _, ok := c.Queues[DefaultQueue]; !ok {
		c.Queues[DefaultQueue] = worker.DefaultQueueConfig()
	}
	backend := cmp.Or(c.Broker.Backend, backendLocal)
	c.view = worker.ConfigView{
		ConfigDir:    baseDir,
		StateDir:     absPath(baseDir, c.Daemon.StateDir),
		Queues:       c.Queues,
		DefaultQueue: DefaultQueue,
		Backend:      backend,
		Shared:       backend == backendRabbitMQ,
		NotifyURLs:   c.notifyURLs(),
		JobTypes:     c.jobTypes(),
	}
	for _, pc := range c.plugins {
		if a, ok := pc.(worker.QueueAdder); ok {
			for name, q := range a.AddQueues(&c.view) {
				if _, ok := c.Queues[name]; !ok {
					c.Queues[name] = q
				}
			}
		}
	}
	for _, pc := range c.plugins {
		pc.Fill(&c.view)
	}
	c.parseScheduleSpecs()
}

// notifyURLs are the notify_urls of the queues and of the plugins' tables,
// sorted by key.
func (c *Config) notifyURLs() []worker.NotifyURL {
	var out []worker.NotifyURL
	for name, q := range c.Queues {
		if q.NotifyURL != "" {
			out = append(out, worker.NotifyURL{Key: "queues." + name + ".notify_url", URL: q.NotifyURL})
		}
	}
	for _, pc := range c.plugins {
		if l, ok := pc.(worker.NotifyURLLister); ok {
			out = append(out, l.NotifyURLs()...)
		}
	}
	slices.SortFunc(out, func(a, b worker.NotifyURL) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// validate reports every value that is out of bounds; it changes nothing.
func (c *Config) validate(report func(key, msg string)) {
	d := &c.Daemon
	for _, kv := range []struct{ key, v string }{{"daemon.state_dir", d.StateDir}, {"daemon.pidfile", d.Pidfile}, {"daemon.socket", d.Socket}} {
		if kv.v == "" {
			report(kv.key, "must not be empty")
		}
	}
	if d.ShutdownTimeout < 0 {
		report("daemon.shutdown_timeout", "must not be negative")
	}

	switch c.Log.Target {
	case "auto", "syslog", "journal", "stderr":
	default:
		report("log.target", fmt.Sprintf("%q is not one of auto, syslog, journal, stderr", c.Log.Target))
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		report("log.level", err.Error())
	}
	if _, err := parseFacility(c.Log.SyslogFacility); err != nil {
		report("log.syslog_facility", err.Error())
	}
	if _, _, err := parseSyslogAddress(c.Log.SyslogAddress); err != nil {
		report("log.syslog_address", err.Error())
	}

	for _, name := range sortedKeys(c.Queues) {
		q := c.Queues[name]
		key := func(k string) string { return "queues." + name + "." + k }
		if q.Concurrency < 1 || q.Concurrency > 1024 {
			report(key("concurrency"), "must be between 1 and 1024")
		}
		if q.MaxAttempts < 1 {
			report(key("max_attempts"), "must be at least 1")
		}
		for _, kd := range []struct {
			k string
			d Duration
		}{{"backoff_base", q.BackoffBase}, {"backoff_max", q.BackoffMax}, {"timeout", q.Timeout}, {"keep_succeeded", q.KeepSucceeded}, {"keep_dead", q.KeepDead}} {
			if kd.d < 0 {
				report(key(kd.k), "must not be negative")
			}
		}
		if q.MaxQueued < 0 {
			report(key("max_queued"), "must not be negative (0 means unlimited)")
		}
		if q.Burst < 0 {
			report(key("burst"), "must not be negative (0 means 1)")
		} else if q.Burst > 0 && !q.Rate.Limited() {
			report(key("burst"), "is the burst of a rate: set rate too, e.g. rate = \"50/s\"")
		}
		if q.MaxRunning < 0 {
			report(key("max_running"), "must not be negative (0 means no limit beyond concurrency)")
		}
	}

	c.HTTP.validate(report)
	c.Events.validate(report)
	c.Broker.validate(report)
	c.Limits.validate(report)
	c.validateSchedules(report)
}

// resolvePaths makes the daemon's relative paths absolute; the plugins'
// are made so by their Fill.
func (c *Config) resolvePaths(base string) {
	abs := func(p *string) { *p = absPath(base, *p) }
	abs(&c.Daemon.StateDir)
	abs(&c.Daemon.Pidfile)
	abs(&c.Daemon.Socket)
	abs(&c.HTTP.TLSCert)
	abs(&c.HTTP.TLSKey)
	abs(&c.HTTP.Tokens)
	c.Broker.resolvePaths(abs)
}

// absPath is p taken from base when it is relative; "" stays "".
func absPath(base, p string) string {
	if p != "" && !filepath.IsAbs(p) {
		return filepath.Join(base, p)
	}
	return p
}

// StorePath is the queue store file.
func (c *Config) StorePath() string { return filepath.Join(c.Daemon.StateDir, "queue.db") }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
