package webhook

import (
	"path/filepath"

	"kiln/worker"
)

// WebhooksConfig is the [webhooks] table: how the end of jobs in queues or
// pipelines with a notify_url is announced.
type WebhooksConfig struct {
	// SecretFile holds the HMAC-SHA256 key deliveries are signed with; it
	// must not be readable by others.
	SecretFile string          `toml:"secret_file"`
	Timeout    worker.Duration `toml:"timeout"` // per POST
}

// Config is the webhook plugin's part of kiln.toml: the [webhooks] table.
// The notify_urls themselves are the queues' and the other kinds' keys.
type Config struct {
	Webhooks WebhooksConfig `toml:"webhooks"`
}

var (
	_ worker.PluginConfig = (*Config)(nil)
	_ worker.QueueAdder   = (*Config)(nil)
	_ worker.StartChecker = (*Config)(nil)
	_ worker.PathLister   = (*Config)(nil)
)

// DefaultConfig is the webhook plugin's config where the file says
// nothing.
func DefaultConfig() Config {
	return Config{Webhooks: WebhooksConfig{Timeout: worker.Duration(defaultTimeout)}}
}

// Attempts is the default max_attempts of the _webhooks queue: with the
// default backoff, a receiver may be down for about half an hour.
const Attempts = 10

// CursorName is the file in state_dir that holds the last event whose
// deliveries are queued.
const CursorName = "webhooks.cursor"

// AddQueues implements worker.QueueAdder: the _webhooks queue, with more
// attempts than a job queue's default, where a notify_url needs it.
func (c *Config) AddQueues(view *worker.ConfigView) map[string]worker.QueueConfig {
	if len(view.NotifyURLs) == 0 {
		return nil
	}
	q := worker.DefaultQueueConfig()
	q.MaxAttempts = Attempts
	return map[string]worker.QueueConfig{Queue: q}
}

// Fill implements worker.PluginConfig: secret_file made absolute.
func (c *Config) Fill(view *worker.ConfigView) {
	if f := c.Webhooks.SecretFile; f != "" && !filepath.IsAbs(f) {
		c.Webhooks.SecretFile = filepath.Join(view.ConfigDir, f)
	}
}

// Check implements worker.PluginConfig: every notify_url, wherever it is
// set, and the [webhooks] table.
func (c *Config) Check(view *worker.ConfigView, problems worker.Problems) {
	for _, n := range view.NotifyURLs {
		if err := CheckURL(n.URL); err != nil {
			problems.Report(n.Key, err.Error())
		}
	}
	if q, ok := view.Queues[Queue]; ok && q.NotifyURL != "" {
		problems.Report("queues."+Queue+".notify_url", "deliveries are not announced themselves")
	}
	if len(view.NotifyURLs) > 0 && c.Webhooks.SecretFile == "" {
		problems.Report("webhooks.secret_file", "must be set when a queue or pipeline has a notify_url: deliveries are signed with its key")
	}
	if c.Webhooks.Timeout < 0 {
		problems.Report("webhooks.timeout", "must not be negative")
	}
}

// CheckStart implements worker.StartChecker: the key must be there, long
// enough and private, as every delivery reads it.
func (c *Config) CheckStart(_ *worker.ConfigView, problems worker.Problems) {
	if c.Webhooks.SecretFile == "" {
		return
	}
	if _, err := ReadSecret(c.Webhooks.SecretFile); err != nil {
		problems.Report("webhooks.secret_file", err.Error())
	}
}

// Paths implements worker.PathLister: the cursor, a file of this host's
// unless the queue is shared (its cursor then moves with the lead on the
// broker), and the secret.
func (c *Config) Paths(view *worker.ConfigView) []worker.ConfigPath {
	var out []worker.ConfigPath
	if !view.Shared {
		out = append(out, worker.ConfigPath{Key: "daemon.state_dir", Path: cursorPath(view),
			Name: "the webhook cursor (" + CursorName + " in daemon.state_dir)", Use: worker.PathWritten})
	}
	if c.Webhooks.SecretFile != "" {
		out = append(out, worker.ConfigPath{Key: "webhooks.secret_file", Path: c.Webhooks.SecretFile, Use: worker.PathRead})
	}
	return out
}

func cursorPath(view *worker.ConfigView) string { return filepath.Join(view.StateDir, CursorName) }

// settings are what deliveries read of this config.
func (c *Config) settings() Settings {
	return Settings{SecretFile: c.Webhooks.SecretFile, Timeout: c.Webhooks.Timeout.Std()}
}
