package daemon

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"kiln/worker"
	"kiln/worker/image"
)

// DefaultConfigPath is where packages install the config.
const DefaultConfigPath = "/etc/kiln/kiln.toml"

// DefaultQueue is the queue a pipeline uses when it names none; it always
// exists.
const DefaultQueue = "default"

//go:embed dev.toml
var devConfig []byte

// DevConfigName stands for the embedded development config in messages.
const DevConfigName = "(embedded dev config)"

// Config is kilnd's configuration, as read from kiln.toml. A loaded Config
// is never changed: a reload loads a new one and the daemon swaps it in
// whole, so every part reads one consistent snapshot.
type Config struct {
	Daemon    DaemonConfig                  `toml:"daemon"`
	Log       LogConfig                     `toml:"log"`
	Queues    map[string]worker.QueueConfig `toml:"queues"`
	Images    image.ImagesConfig            `toml:"images"`
	Pipelines map[string]image.Pipeline     `toml:"pipelines"`
	HTTP      HTTPConfig                    `toml:"http"`
	Events    EventsConfig                  `toml:"events"`
	Webhooks  WebhooksConfig                `toml:"webhooks"`
	Broker    BrokerConfig                  `toml:"broker"`
	Limits    LimitsConfig                  `toml:"limits"`

	// Source is the file the config came from.
	Source string `toml:"-"`
	// file is Source made absolute ("" for the embedded dev config), and
	// lines the line of each key in it: the start checks name both.
	file  string
	lines keyLines
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
		Log:      LogConfig{Target: "auto", Level: "info", SyslogFacility: "daemon"},
		HTTP:     HTTPConfig{Tokens: "/etc/kiln/tokens"},
		Events:   EventsConfig{Keep: Duration(24 * time.Hour), Max: 1_000_000},
		Webhooks: WebhooksConfig{Timeout: Duration(10 * time.Second)},
		Images:   image.DefaultImagesConfig(),
		Limits:   defaultLimits(),
	}
}

// LoadConfig reads and validates a config file. Relative paths inside it are
// taken from the file's directory.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{Problems: []string{fmt.Sprintf("%s: %v", path, err)}}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	cfg, err := parseConfig(path, data, filepath.Dir(abs))
	if err != nil {
		return nil, err
	}
	cfg.file = abs
	return cfg, nil
}

// DevConfig returns the embedded development config with its paths under
// baseDir/var.
func DevConfig(baseDir string) (*Config, error) {
	return parseConfig(DevConfigName, devConfig, baseDir)
}

// parseConfig turns a file into a Config in four steps: decode every key
// onto the defaults, fill in the values that follow from others, validate,
// and make paths absolute. Every problem of the first and the third step is
// reported, each as file:line: key: message.
func parseConfig(name string, data []byte, baseDir string) (*Config, error) {
	lines := scanKeyLines(data)
	problems := &configProblems{name: name, lines: lines}
	report := problems.report

	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		// A syntax error ends the parse: nothing after it can be trusted.
		return nil, &ConfigError{Problems: []string{syntaxProblem(name, err)}}
	}
	cfg := defaultConfig()
	dec := &configDecoder{report: report, entryDefaults: map[reflect.Type]func() reflect.Value{
		reflect.TypeOf(worker.QueueConfig{}): func() reflect.Value { return reflect.ValueOf(worker.DefaultQueueConfig()) },
	}}
	dec.decodeStruct("", tree, reflect.ValueOf(&cfg).Elem())

	cfg.fillDerived()
	cfg.validate(report)
	if err := problems.err(); err != nil {
		return nil, err
	}
	cfg.resolvePaths(baseDir)
	cfg.Source = name
	cfg.lines = lines
	return &cfg, nil
}

// syntaxProblem words a TOML syntax error as file:line: message.
func syntaxProblem(name string, err error) string {
	var perr toml.ParseError
	if errors.As(err, &perr) {
		return fmt.Sprintf("%s:%d: syntax error: %s", name, perr.Position.Line, perr.Message)
	}
	return fmt.Sprintf("%s: %v", name, err)
}

// fillDerived sets the values that follow from other settings: the default
// queue, each pipeline's queue and variant defaults, and the libvips
// threads of each worker.
func (c *Config) fillDerived() {
	if c.Queues == nil {
		c.Queues = map[string]worker.QueueConfig{}
	}
	if _, ok := c.Queues[DefaultQueue]; !ok {
		c.Queues[DefaultQueue] = worker.DefaultQueueConfig()
	}
	c.fillWebhooks()
	for name, p := range c.Pipelines {
		if p.Queue == "" {
			p.Queue = DefaultQueue
		}
		p.FillDefaults()
		c.Pipelines[name] = p
	}
	if c.Images.ThreadsPerWorker == 0 {
		// Share the CPUs among the picture jobs that may run at once: one
		// job alone gets them all; a full queue gets one each, which is
		// where throughput is best.
		busy := 0
		counted := map[string]bool{}
		for _, p := range c.Pipelines {
			if !counted[p.Queue] {
				counted[p.Queue] = true
				busy += c.Queues[p.Queue].Concurrency
			}
		}
		c.Images.ThreadsPerWorker = max(1, runtime.NumCPU()/max(1, busy))
	}
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
	}

	im := &c.Images
	if im.MaxPixels < 0 {
		report("images.max_pixels", "must not be negative (0 means no limit)")
	}
	for i, root := range im.AllowedInputRoots {
		if !filepath.IsAbs(root) {
			report(fmt.Sprintf("images.allowed_input_roots[%d]", i), fmt.Sprintf("%q must be an absolute path", root))
		}
	}
	if im.RecycleAfter < 0 {
		report("images.recycle_after", "must not be negative (0 means never)")
	}
	if im.ThreadsPerWorker < 0 {
		report("images.threads_per_worker", "must not be negative (0 means the CPUs shared out)")
	}

	c.HTTP.validate(report)
	c.Events.validate(report)
	c.validateWebhooks(report)
	c.Broker.validate(report)
	c.Limits.validate(report)

	for _, name := range sortedKeys(c.Pipelines) {
		p := c.Pipelines[name]
		if _, ok := c.Queues[p.Queue]; !ok {
			report("pipelines."+name+".queue", fmt.Sprintf("queue %q is not configured (add a [queues.%s] table)", p.Queue, p.Queue))
		}
		for _, fe := range p.Check() {
			report("pipelines."+name+"."+fe.Key, fe.Msg)
		}
	}
}

func (c *Config) resolvePaths(base string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	abs(&c.Daemon.StateDir)
	c.Images.FillInputRoots(c.Daemon.StateDir)
	abs(&c.Daemon.Pidfile)
	abs(&c.Daemon.Socket)
	abs(&c.HTTP.TLSCert)
	abs(&c.HTTP.TLSKey)
	abs(&c.HTTP.Tokens)
	abs(&c.Webhooks.SecretFile)
	for name, p := range c.Pipelines {
		abs(&p.OutputDir)
		c.Pipelines[name] = p
	}
	c.Broker.resolvePaths(abs)
}

// ImageSettings is the image kind's view of this config.
func (c *Config) ImageSettings() image.Settings {
	return image.Settings{Pipelines: c.Pipelines, Images: c.Images}
}

// StorePath is the queue store file.
func (c *Config) StorePath() string { return filepath.Join(c.Daemon.StateDir, "queue.db") }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
