package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// printedLine matches one value line of -print-config: key = value, then
// its origin.
func printedLine(t *testing.T, out, key, value, origin string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key+" = "+value) + ` +# ` + regexp.QuoteMeta(origin) + `$`)
	if !re.MatchString(out) {
		t.Errorf("no line %q ... # %s in:\n%s", key+" = "+value, origin, out)
	}
}

// Each value is printed with the file and line that set it last, or
// (default); values are those in effect (paths absolute).
func TestPrintConfigNamesEachValuesOrigin(t *testing.T) {
	t.Parallel()
	path := writeDropIns(t, dropInMain, map[string]string{
		"10-queues.toml": "[queues.images]\nconcurrency = 7\n\n[queues.video]\nmax_attempts = 2\n",
		"20-web.toml":    "[pipelines.web]\nnotify_url = \"https://app.example/hook?token=s3cret\"\n\n[[pipelines.web.variants]]\nname = \"only\"\nwidth = 100\n",
		"30-hooks.toml":  "[webhooks]\nsecret_file = \"webhook.secret\"\n",
		"README":         "not read\n",
	})
	cfg, err := LoadConfig(path, testPlugins()...)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := cfg.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	dir := filepath.Dir(path)
	queues, web := filepath.Join(dir, "conf.d", "10-queues.toml"), filepath.Join(dir, "conf.d", "20-web.toml")
	for _, l := range []struct{ key, value, origin string }{
		{"state_dir", `"` + filepath.Join(dir, "state") + `"`, path + ":2"},
		{"shutdown_timeout", `"30s"`, "(default)"},
		{"concurrency", "7", queues + ":2"},
		{"max_attempts", "4", path + ":8"},
		{"max_attempts", "2", queues + ":5"},
		{"notify_url", `"https://app.example/hook?***"`, web + ":2"},
		{"name", `"only"`, web + ":5"},
		{"width", "100", web + ":6"},
		{"fit", `"inside"`, "(default)"},
		{"output_dir", `"/srv/out"`, path + ":15"},
		{"secret_file", `"` + filepath.Join(dir, "webhook.secret") + `"`, filepath.Join(dir, "conf.d", "30-hooks.toml") + ":2"},
	} {
		printedLine(t, out, l.key, l.value, l.origin)
	}
	for _, s := range []string{
		"#   " + path + "\n#   " + queues + "\n#   " + web + "\n",
		"# Left out of conf.d (not a *.toml, or hidden): README\n",
		"\n[queues.video]\n",
		"\n[[pipelines.web.variants]]\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("the notify_url's token is printed:\n%s", out)
	}
	if n := strings.Count(out, "[[pipelines.web.variants]]"); n != 1 {
		t.Errorf("%d variants printed, want the drop-in's one", n)
	}
}

// What -print-config prints is TOML that kilnd reads back to the very
// config it came from: every key is there, with its value in effect.
func TestPrintConfigReadsBackTheSame(t *testing.T) {
	t.Parallel()
	path := writeDropIns(t, validConfig, map[string]string{
		"10-more.toml": `[queues.video]
concurrency = 1
keep_dead = "1h"

[images]
max_input_bytes = "20MiB"
allowed_input_roots = ["/srv/pics", "/srv/other pics"]

[pipelines.thumbs]
queue = "video"
output_dir = "thumbs"
inbox = "/srv/inbox"
inbox_keep = false

[[pipelines.thumbs.variants]]
name = "t"
width = 64
compression = 6
format = "png"
blur = 1.5

[http]
tokens = "tokens \"quoted\"\tand\ttabbed"

[schedules.nightly]
cron = "0 3 * * *"
timezone = "Europe/Paris"
type = "noop"
payload = { path = "/srv/a \"b\".jpg", n = [1, 2] }

[schedules.plain]
every = "1h"
type = "noop"
`,
	})
	cfg, err := LoadConfig(path, testPlugins()...)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := cfg.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(t.TempDir(), "printed.toml")
	if err := os.WriteFile(again, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := LoadConfig(again, testPlugins()...)
	if err != nil {
		t.Fatalf("the printed config does not load: %v\n%s", err, b.String())
	}
	for _, part := range []struct {
		name      string
		got, want any
	}{
		{"daemon", back.Daemon, cfg.Daemon}, {"log", back.Log, cfg.Log}, {"queues", back.Queues, cfg.Queues},
		{"http", back.HTTP, cfg.HTTP}, {"events", back.Events, cfg.Events}, {"broker", back.Broker, cfg.Broker},
		{"limits", back.Limits, cfg.Limits}, {"plugins", back.plugins, cfg.plugins},
	} {
		if !sameValue(reflect.ValueOf(part.got), reflect.ValueOf(part.want)) {
			t.Errorf("%s read back = %+v\nwant %+v", part.name, part.got, part.want)
		}
	}
	if p := imageConfig(back).Pipelines["thumbs"]; p.InboxKeep == nil || *p.InboxKeep || p.Variants[0].Compression == nil || *p.Variants[0].Compression != 6 {
		t.Errorf("pipeline thumbs read back = %+v; want inbox_keep false and compression 6", p)
	}
}

// sameValue is reflect.DeepEqual but for an empty list or table, which
// TOML writes as [] whether it is nil or not.
func sameValue(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			if bv := b.MapIndex(k); !bv.IsValid() || !sameValue(a.MapIndex(k), bv) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Func:
		return a.IsNil() && b.IsNil()
	}
	if a.CanInterface() && b.CanInterface() {
		return a.Interface() == b.Interface()
	}
	return fmt.Sprint(a) == fmt.Sprint(b) // fmt prints unexported fields too
}

func TestMaskSecrets(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ key, in, want string }{
		{"broker.urls[0]", "amqp://kiln:guest@mq1:5672/images", "amqp://kiln:***@mq1:5672/images"},
		{"broker.urls[1]", "amqps://kiln@mq2/images", "amqps://kiln@mq2/images"},
		{"queues.q.notify_url", "https://app.example/hook?token=abc&x=1", "https://app.example/hook?***"},
		{"queues.q.notify_url", "https://u:p@app.example/hook?t=1#frag", "https://u:***@app.example/hook?***#frag"},
		{"pipelines.web.notify_url", "https://app.example/hook", "https://app.example/hook"},
		{"commands.up.env[0]", "AWS_SECRET_ACCESS_KEY=abc=def", "AWS_SECRET_ACCESS_KEY=***"},
		{"commands.up.command[2]", "https://api.example/v1?key=abc", "https://api.example/v1?***"},
		{"commands.up.command[1]", "--bucket", "--bucket"},
		{"daemon.state_dir", "/var/lib/kiln", "/var/lib/kiln"},
		{"pipelines.web.variants[1].name", "env=x", "env=x"},
	} {
		if got := maskSecrets(c.key, c.in); got != c.want {
			t.Errorf("maskSecrets(%q, %q) = %q, want %q", c.key, c.in, got, c.want)
		}
	}
}
