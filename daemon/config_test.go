package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/worker"
)

const validConfig = `
[daemon]
state_dir = "state"
pidfile = "/run/kiln-test/kilnd.pid"
socket = "/run/kiln-test/kiln.sock"
shutdown_timeout = "5s"

[log]
target = "stderr"

[queues.images]
concurrency = 3

[pipelines.web]
queue = "images"
output_dir = "/srv/out"

[[pipelines.web.variants]]
name = "w800"
width = 800
format = "jpeg"
quality = 85

[[pipelines.web.variants]]
name = "thumb"
width = 200
height = 200
format = "webp"
`

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kiln.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadValidConfig(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, validConfig)
	cfg, err := LoadConfig(path, testPlugins()...)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(path), "state"); cfg.Daemon.StateDir != want {
		t.Errorf("state_dir = %q, want %q (relative to the config file)", cfg.Daemon.StateDir, want)
	}
	if time.Duration(cfg.Daemon.ShutdownTimeout) != 5*time.Second {
		t.Errorf("shutdown_timeout = %v", cfg.Daemon.ShutdownTimeout)
	}
	q := cfg.Queues["images"]
	if q.Concurrency != 3 || q.MaxAttempts != worker.DefaultQueueConfig().MaxAttempts {
		t.Errorf("queue images = %+v; want concurrency 3 and default max_attempts", q)
	}
	if _, ok := cfg.Queues[DefaultQueue]; !ok {
		t.Error("the default queue is missing")
	}
	if p := imageConfig(cfg).Pipelines["web"]; len(p.Variants) != 2 || p.Variants[1].Height != 200 {
		t.Errorf("pipeline web = %+v", p)
	}
}

// The file the packages ship and the embedded dev config must both load.
func TestShippedConfigsLoad(t *testing.T) {
	t.Parallel()
	if _, err := LoadConfig("../etc/kiln.toml", testPlugins()...); err != nil {
		t.Errorf("etc/kiln.toml: %v", err)
	}
	cfg, err := DevConfig("/base", testPlugins()...)
	if err != nil {
		t.Fatalf("dev config: %v", err)
	}
	if cfg.Daemon.StateDir != "/base/var/lib" || imageConfig(cfg).Pipelines["web"].OutputDir != "/base/var/out/web" {
		t.Errorf("dev paths not under /base/var: %+v", cfg.Daemon)
	}
}

func TestConfigErrorsNameFileLineAndKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		edit func(string) string
		want []string
	}{
		{
			name: "unknown key",
			edit: func(s string) string { return strings.Replace(s, `state_dir = "state"`, `stat_dir = "state"`, 1) },
			want: []string{":3: daemon.stat_dir: unknown key"},
		},
		{
			name: "wrong type",
			edit: func(s string) string { return strings.Replace(s, "concurrency = 3", `concurrency = "three"`, 1) },
			want: []string{`:12: queues.images.concurrency: must be an integer, not a string ("three")`},
		},
		{
			name: "bad rate",
			edit: func(s string) string {
				return strings.Replace(s, "concurrency = 3", `concurrency = 3`+"\n"+`rate = "50 per second"`, 1)
			},
			want: []string{`:13: queues.images.rate: invalid rate "50 per second" (use a whole number of jobs per s, m or h, e.g. "50/s", "1000/h")`},
		},
		{
			name: "burst without a rate",
			edit: func(s string) string { return strings.Replace(s, "concurrency = 3", "concurrency = 3\nburst = 10", 1) },
			want: []string{`:13: queues.images.burst: is the burst of a rate: set rate too, e.g. rate = "50/s"`},
		},
		{
			name: "negative max_running",
			edit: func(s string) string {
				return strings.Replace(s, "concurrency = 3", "concurrency = 3\nmax_running = -1", 1)
			},
			want: []string{`:13: queues.images.max_running: must not be negative`},
		},
		{
			name: "bad duration",
			edit: func(s string) string { return strings.Replace(s, `"5s"`, `"soon"`, 1) },
			want: []string{":6: daemon.shutdown_timeout:", `invalid duration "soon"`},
		},
		{
			name: "missing output_dir",
			edit: func(s string) string { return strings.Replace(s, `output_dir = "/srv/out"`, "", 1) },
			want: []string{":14: pipelines.web.output_dir: is required"},
		},
		{
			name: "variant width zero",
			edit: func(s string) string { return strings.Replace(s, "width = 800", "width = 0", 1) },
			want: []string{":20: pipelines.web.variants[0].width: width or height must be set"},
		},
		{
			name: "unknown format in second variant",
			edit: func(s string) string { return strings.Replace(s, `format = "webp"`, `format = "bmp"`, 1) },
			want: []string{":28: pipelines.web.variants[1].format:", `"bmp" is not one of`},
		},
		{
			name: "unknown key in a variant",
			edit: func(s string) string { return strings.Replace(s, "height = 200", "hieght = 200", 1) },
			want: []string{":27: pipelines.web.variants[1].hieght: unknown key"},
		},
		{
			name: "queue not configured",
			edit: func(s string) string { return strings.Replace(s, `queue = "images"`, `queue = "imgs"`, 1) },
			want: []string{":15: pipelines.web.queue:", `queue "imgs" is not configured`},
		},
		{
			name: "bad log target",
			edit: func(s string) string { return strings.Replace(s, `target = "stderr"`, `target = "paper"`, 1) },
			want: []string{":9: log.target:", `"paper"`},
		},
		{
			name: "notify_url without a secret on the rabbitmq backend",
			edit: func(s string) string {
				s = strings.Replace(s, `queue = "images"`, "queue = \"images\"\nnotify_url = \"https://hooks.example/kiln\"", 1)
				return s + "\n[broker]\nbackend = \"rabbitmq\"\nurls = [\"amqp://kiln@localhost/\"]\n"
			},
			want: []string{"webhooks.secret_file: must be set when a queue or pipeline has a notify_url"},
		},
		{
			name: "keep_records without the rabbitmq backend",
			edit: func(s string) string { return s + "\n[broker]\nkeep_records = false\n" },
			want: []string{`broker.backend: must be "rabbitmq" when broker.urls, password_file, tls or keep_records are set`},
		},
		{
			name: "keep_records not a boolean",
			edit: func(s string) string {
				return s + "\n[broker]\nbackend = \"rabbitmq\"\nurls = [\"amqp://kiln@localhost/\"]\nkeep_records = \"no\"\n"
			},
			want: []string{`broker.keep_records: must be true or false, not a string ("no")`},
		},
		{
			name: "syntax error",
			edit: func(s string) string { return strings.Replace(s, "[log]", "[log", 1) },
			want: []string{": syntax error: expected '.' or ']' to end table name"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tc.edit(validConfig))
			_, err := LoadConfig(path, testPlugins()...)
			var cerr *ConfigError
			if !errors.As(err, &cerr) {
				t.Fatalf("err = %v, want a ConfigError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), path+":") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestMissingConfigFile(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig("/nonexistent/kiln.toml", testPlugins()...)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/kiln.toml") {
		t.Fatalf("err = %v", err)
	}
}

// -check-config and every start and reload report all of a file's
// problems at once, each on its own line with file, line and full key, so
// that an operator fixes the file in one pass.
func TestConfigErrorsAreAllReported(t *testing.T) {
	t.Parallel()
	text := validConfig + `
[[pipelines.web.variants]]
name = "third"
width = 100
qualty = 80

[images]
max_input_bytes = "100 megs"
`
	text = strings.Replace(text, "concurrency = 3", "concurrency = 0", 1)
	text = strings.Replace(text, `state_dir = "state"`, `stat_dir = "state"`, 1)
	path := writeConfig(t, text)
	_, err := LoadConfig(path, testPlugins()...)
	var cerr *ConfigError
	if !errors.As(err, &cerr) {
		t.Fatalf("err = %v, want a ConfigError", err)
	}
	want := []string{
		path + ":3: daemon.stat_dir: unknown key",
		path + ":12: queues.images.concurrency: must be between 1 and 1024",
		path + ":33: pipelines.web.variants[2].qualty: unknown key",
		path + `:36: images.max_input_bytes: invalid size "100 megs" (use e.g. "100MiB")`,
	}
	if len(cerr.Problems) != len(want) {
		t.Fatalf("%d problems, want %d:\n%s", len(cerr.Problems), len(want), err)
	}
	for i, w := range want {
		if cerr.Problems[i] != w {
			t.Errorf("line %d = %q, want %q (in the file's order)", i+1, cerr.Problems[i], w)
		}
	}
}
