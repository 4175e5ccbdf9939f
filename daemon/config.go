package daemon

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
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

// Config is kilnd's configuration, as read from kiln.toml.
type Config struct {
	Daemon    DaemonConfig              `toml:"daemon"`
	Log       LogConfig                 `toml:"log"`
	Queues    map[string]QueueConfig    `toml:"queues"`
	Images    image.Limits              `toml:"images"`
	Pipelines map[string]image.Pipeline `toml:"pipelines"`

	// Source is the file the config came from.
	Source string `toml:"-"`
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

// QueueConfig is one [queues.NAME] table.
type QueueConfig struct {
	Concurrency   int      `toml:"concurrency"`
	MaxAttempts   int      `toml:"max_attempts"`
	BackoffBase   Duration `toml:"backoff_base"`
	BackoffMax    Duration `toml:"backoff_max"`
	Timeout       Duration `toml:"timeout"`
	MaxQueued     int      `toml:"max_queued"`     // 0 = unlimited
	KeepSucceeded Duration `toml:"keep_succeeded"` // 0 = forever
	KeepDead      Duration `toml:"keep_dead"`      // 0 = forever
}

// Duration is a duration written as a string such as "30s".
type Duration = worker.Duration

// ConfigError lists every problem found in a config file, each with its
// file, line and key.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string { return strings.Join(e.Problems, "\n") }

func defaultConfig() Config {
	return Config{
		Daemon: DaemonConfig{
			StateDir:        "/var/lib/kiln",
			Pidfile:         "/run/kiln/kilnd.pid",
			Socket:          "/run/kiln/kiln.sock",
			ShutdownTimeout: Duration(30 * time.Second),
		},
		Log:    LogConfig{Target: "auto", Level: "info", SyslogFacility: "daemon"},
		Images: image.DefaultLimits(),
	}
}

func defaultQueue() QueueConfig {
	return QueueConfig{
		Concurrency: runtime.NumCPU(),
		MaxAttempts: 5,
		BackoffBase: Duration(time.Second),
		BackoffMax:  Duration(5 * time.Minute),
		Timeout:     Duration(5 * time.Minute),
		// Succeeded jobs hold their results a week; dead ones a month for
		// an operator to look at and retry.
		KeepSucceeded: Duration(7 * 24 * time.Hour),
		KeepDead:      Duration(30 * 24 * time.Hour),
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
	return parseConfig(path, data, filepath.Dir(abs))
}

// DevConfig returns the embedded development config with its paths under
// baseDir/var.
func DevConfig(baseDir string) (*Config, error) {
	return parseConfig(DevConfigName, devConfig, baseDir)
}

func parseConfig(name string, data []byte, baseDir string) (*Config, error) {
	cfg := defaultConfig()
	cfg.Source = name
	lines := scanKeyLines(data)
	var problems []string
	report := func(key, msg string) {
		if n := lines.line(key); n > 0 {
			problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", name, n, key, msg))
		} else {
			problems = append(problems, fmt.Sprintf("%s: %s: %s", name, key, msg))
		}
	}

	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		return nil, &ConfigError{Problems: []string{decodeProblem(name, err)}}
	}
	for _, k := range md.Undecoded() {
		report(k.String(), "unknown key")
	}

	cfg.validate(md, report)
	if len(problems) > 0 {
		return nil, &ConfigError{Problems: problems}
	}
	cfg.resolvePaths(baseDir)
	return &cfg, nil
}

// typeProblem is how the TOML decoder words a value of the wrong type.
var typeProblem = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]+)"\): (.*)$`)

// decodeProblem rewords a TOML decoding error as file:line: key: message.
func decodeProblem(name string, err error) string {
	var perr toml.ParseError
	if errors.As(err, &perr) {
		// A syntax error's LastKey is merely the last key read before it,
		// which would mislead; a bad value's message names its key itself.
		if strings.HasPrefix(perr.Message, "invalid duration") && perr.LastKey != "" {
			return fmt.Sprintf("%s:%d: %s: %s", name, perr.Position.Line, perr.LastKey, perr.Message)
		}
		return fmt.Sprintf("%s:%d: syntax error: %s", name, perr.Position.Line, perr.Message)
	}
	if m := typeProblem.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Sprintf("%s:%s: %s: %s", name, m[1], m[2], m[3])
	}
	return fmt.Sprintf("%s: %v", name, err)
}

func (c *Config) validate(md toml.MetaData, report func(key, msg string)) {
	d := &c.Daemon
	for key, v := range map[string]string{"daemon.state_dir": d.StateDir, "daemon.pidfile": d.Pidfile, "daemon.socket": d.Socket} {
		if v == "" {
			report(key, "must not be empty")
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

	if c.Queues == nil {
		c.Queues = map[string]QueueConfig{}
	}
	for _, name := range sortedKeys(c.Queues) {
		q := c.Queues[name]
		def := defaultQueue()
		key := func(k string) string { return "queues." + name + "." + k }
		if !md.IsDefined("queues", name, "concurrency") {
			q.Concurrency = def.Concurrency
		} else if q.Concurrency < 1 || q.Concurrency > 1024 {
			report(key("concurrency"), "must be between 1 and 1024")
		}
		if !md.IsDefined("queues", name, "max_attempts") {
			q.MaxAttempts = def.MaxAttempts
		} else if q.MaxAttempts < 1 {
			report(key("max_attempts"), "must be at least 1")
		}
		if !md.IsDefined("queues", name, "backoff_base") {
			q.BackoffBase = def.BackoffBase
		}
		if !md.IsDefined("queues", name, "backoff_max") {
			q.BackoffMax = def.BackoffMax
		}
		if !md.IsDefined("queues", name, "timeout") {
			q.Timeout = def.Timeout
		}
		if !md.IsDefined("queues", name, "keep_succeeded") {
			q.KeepSucceeded = def.KeepSucceeded
		}
		if !md.IsDefined("queues", name, "keep_dead") {
			q.KeepDead = def.KeepDead
		}
		for k, d := range map[string]Duration{"backoff_base": q.BackoffBase, "backoff_max": q.BackoffMax, "timeout": q.Timeout, "keep_succeeded": q.KeepSucceeded, "keep_dead": q.KeepDead} {
			if d < 0 {
				report(key(k), "must not be negative")
			}
		}
		if q.MaxQueued < 0 {
			report(key("max_queued"), "must not be negative (0 means unlimited)")
		}
		c.Queues[name] = q
	}
	if _, ok := c.Queues[DefaultQueue]; !ok {
		c.Queues[DefaultQueue] = defaultQueue()
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
	if im.RecycleAfter < 0 || im.ThreadsPerWorker < 0 {
		report("images.recycle_after", "recycle_after and threads_per_worker must not be negative")
	}
	if im.ThreadsPerWorker == 0 {
		// Share the CPUs among the picture jobs that may run at once: one
		// job alone gets them all; a full queue gets one each, which is
		// where throughput is best.
		busy := 0
		counted := map[string]bool{}
		for _, p := range c.Pipelines {
			q := p.Queue
			if q == "" {
				q = DefaultQueue
			}
			if !counted[q] {
				counted[q] = true
				busy += c.Queues[q].Concurrency
			}
		}
		im.ThreadsPerWorker = max(1, runtime.NumCPU()/max(1, busy))
	}

	for _, name := range sortedKeys(c.Pipelines) {
		p := c.Pipelines[name]
		if p.Queue == "" {
			p.Queue = DefaultQueue
		}
		if _, ok := c.Queues[p.Queue]; !ok {
			report("pipelines."+name+".queue", fmt.Sprintf("queue %q is not configured (add a [queues.%s] table)", p.Queue, p.Queue))
		}
		if err := p.Check(); err != nil {
			var fe *image.FieldError
			if errors.As(err, &fe) {
				report("pipelines."+name+"."+fe.Key, fe.Msg)
			} else {
				report("pipelines."+name, err.Error())
			}
		}
		c.Pipelines[name] = p
	}
}

func (c *Config) resolvePaths(base string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	abs(&c.Daemon.StateDir)
	abs(&c.Daemon.Pidfile)
	abs(&c.Daemon.Socket)
	for name, p := range c.Pipelines {
		abs(&p.OutputDir)
		c.Pipelines[name] = p
	}
}

// QueueSettings converts the queues to the worker's form.
func (c *Config) QueueSettings() map[string]worker.QueueConfig {
	out := make(map[string]worker.QueueConfig, len(c.Queues))
	for name, q := range c.Queues {
		out[name] = worker.QueueConfig{
			Concurrency: q.Concurrency,
			MaxAttempts: q.MaxAttempts,
			BackoffBase: time.Duration(q.BackoffBase),
			BackoffMax:  time.Duration(q.BackoffMax),
			Timeout:     time.Duration(q.Timeout),
		}
	}
	return out
}

// Retention returns each queue's retention policy.
func (c *Config) Retention() map[string]worker.RetentionPolicy {
	out := make(map[string]worker.RetentionPolicy, len(c.Queues))
	for name, q := range c.Queues {
		out[name] = worker.RetentionPolicy{KeepSucceeded: q.KeepSucceeded.Std(), KeepDead: q.KeepDead.Std()}
	}
	return out
}

// StorePath is the queue store file.
func (c *Config) StorePath() string { return filepath.Join(c.Daemon.StateDir, "queue.db") }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
