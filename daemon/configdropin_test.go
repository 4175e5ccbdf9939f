package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// dropInMain is a main file whose lines the tests below name.
const dropInMain = `[daemon]
state_dir = "state"
pidfile = "/run/kiln-test/kilnd.pid"
socket = "/run/kiln-test/kiln.sock"

[queues.images]
concurrency = 3
max_attempts = 4

[images]
allowed_input_roots = ["/srv/a", "/srv/b"]

[pipelines.web]
queue = "images"
output_dir = "/srv/out"

[[pipelines.web.variants]]
name = "w800"
width = 800

[[pipelines.web.variants]]
name = "thumb"
width = 200
`

// writeDropIns writes the main file and, in conf.d beside it, the drop-ins
// (name to text), and returns the main file's path.
func writeDropIns(t *testing.T, main string, dropIns map[string]string) string {
	t.Helper()
	path := writeConfig(t, main)
	dir := DropInDir(path)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range dropIns {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func loadDropIns(t *testing.T, main string, dropIns map[string]string) *Config {
	t.Helper()
	cfg, err := LoadConfig(writeDropIns(t, main, dropIns), testPlugins()...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A drop-in's key replaces the main file's; the keys it does not set stay.
func TestDropInOverridesAKey(t *testing.T) {
	t.Parallel()
	cfg := loadDropIns(t, dropInMain, map[string]string{
		"10-images.toml": "[queues.images]\nconcurrency = 7\n",
	})
	if q := cfg.Queues["images"]; q.Concurrency != 7 || q.MaxAttempts != 4 {
		t.Errorf("queue images = concurrency %d, max_attempts %d; want 7 from the drop-in, 4 from the main file", q.Concurrency, q.MaxAttempts)
	}
}

// Tables merge at every depth, however they are written: a dotted key and
// an inline table in a drop-in add to the main file's table.
func TestDropInMergesTablesHoweverWritten(t *testing.T) {
	t.Parallel()
	cfg := loadDropIns(t, dropInMain, map[string]string{
		"10-dotted.toml": "queues.images.max_queued = 50\n",
		"20-inline.toml": "[pipelines]\nweb = { notify_url = \"https://app.example/hook\" }\n[webhooks]\nsecret_file = \"/etc/kiln/webhook.secret\"\n",
	})
	if q := cfg.Queues["images"]; q.MaxQueued != 50 || q.Concurrency != 3 {
		t.Errorf("queue images = %+v; want max_queued 50 added to the main file's concurrency 3", q)
	}
	p := imageConfig(cfg).Pipelines["web"]
	if p.NotifyURL != "https://app.example/hook" || p.OutputDir != "/srv/out" || len(p.Variants) != 2 {
		t.Errorf("pipeline web = %+v; want the main file's with the drop-in's notify_url", p)
	}
}

// A drop-in adds a queue and a pipeline that uses it; a later one adds to
// that pipeline.
func TestDropInAddsTables(t *testing.T) {
	t.Parallel()
	cfg := loadDropIns(t, dropInMain, map[string]string{
		"10-video.toml": "[queues.video]\nconcurrency = 1\n",
		"20-thumbs.toml": `[pipelines.thumbs]
queue = "video"
output_dir = "/srv/thumbs"

[[pipelines.thumbs.variants]]
name = "t"
width = 64
`,
		"30-thumbs-webp.toml": "[pipelines.thumbs]\nqueue = \"images\"\n",
	})
	if q, ok := cfg.Queues["video"]; !ok || q.Concurrency != 1 {
		t.Errorf("queue video = %+v, %v; want the drop-in's", q, ok)
	}
	p, ok := imageConfig(cfg).Pipelines["thumbs"]
	if !ok || p.Queue != "images" || p.OutputDir != "/srv/thumbs" || len(p.Variants) != 1 || p.Variants[0].Width != 64 {
		t.Errorf("pipeline thumbs = %+v, %v; want 20-thumbs.toml's with 30-thumbs-webp.toml's queue", p, ok)
	}
	if _, ok := imageConfig(cfg).Pipelines["web"]; !ok {
		t.Error("pipeline web of the main file is gone")
	}
}

// An array is replaced whole, an array of tables too: the list in effect
// is the one in the last file that sets it.
func TestDropInReplacesArraysWhole(t *testing.T) {
	t.Parallel()
	cfg := loadDropIns(t, dropInMain, map[string]string{
		"10-roots.toml":    "[images]\nallowed_input_roots = [\"/srv/c\"]\n",
		"20-variants.toml": "[[pipelines.web.variants]]\nname = \"only\"\nwidth = 100\n",
	})
	if got := imageConfig(cfg).Images.AllowedInputRoots; !slices.Equal(got, []string{"/srv/c"}) {
		t.Errorf("allowed_input_roots = %q; want the drop-in's list alone", got)
	}
	p := imageConfig(cfg).Pipelines["web"]
	if len(p.Variants) != 1 || p.Variants[0].Name != "only" || p.OutputDir != "/srv/out" {
		t.Errorf("pipeline web = %+v; want the drop-in's one variant and the main file's output_dir", p)
	}
}

// Drop-ins are merged in the byte order of their names: "10-" before "9-",
// "Z" before "a".
func TestDropInsMergeInByteOrder(t *testing.T) {
	t.Parallel()
	cfg := loadDropIns(t, dropInMain, map[string]string{
		"9-late.toml":  "[queues.images]\nconcurrency = 9\n",
		"10-last.toml": "[queues.images]\nconcurrency = 10\n",
		"a.toml":       "[queues.images]\nmax_attempts = 1\n",
		"Z.toml":       "[queues.images]\nmax_attempts = 26\n",
	})
	if q := cfg.Queues["images"]; q.Concurrency != 9 || q.MaxAttempts != 1 {
		t.Errorf("queue images = concurrency %d, max_attempts %d; want 9 (9-late.toml after 10-last.toml) and 1 (a.toml after Z.toml)", q.Concurrency, q.MaxAttempts)
	}
	want := []string{"kiln.toml", "10-last.toml", "9-late.toml", "Z.toml", "a.toml"}
	var got []string
	for _, f := range cfg.files {
		got = append(got, filepath.Base(f))
	}
	if !slices.Equal(got, want) {
		t.Errorf("files read %q, want %q", got, want)
	}
}

// What is not a *.toml without a leading dot is not read, however broken:
// editors' and package managers' leftovers, a README.
func TestDropInNamesIgnored(t *testing.T) {
	t.Parallel()
	ignored := []string{
		"#50-x.toml#", ".#50-x.toml", ".50-x.toml.swp", ".hidden.toml", "50-x.conf",
		"50-x.toml.dpkg-dist", "50-x.toml.dpkg-new", "50-x.toml.dpkg-old", "50-x.toml.rpmnew",
		"50-x.toml.rpmsave", "50-x.toml.ucf-dist", "50-x.toml.ucf-new", "50-x.toml.ucf-old",
		"50-x.toml~", "README",
	}
	dropIns := map[string]string{"50-x.toml": "[queues.images]\nconcurrency = 5\n"}
	for _, n := range ignored {
		dropIns[n] = "this is [not toml\n"
	}
	cfg := loadDropIns(t, dropInMain, dropIns)
	if c := cfg.Queues["images"].Concurrency; c != 5 {
		t.Errorf("concurrency = %d, want 5 from 50-x.toml", c)
	}
	if !slices.Equal(cfg.ignored, ignored) {
		t.Errorf("ignored %q, want %q", cfg.ignored, ignored)
	}
}

// Without conf.d the main file alone is the config.
func TestNoDropInDirectory(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(writeConfig(t, dropInMain), testPlugins()...)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.files) != 1 || cfg.Queues["images"].Concurrency != 3 {
		t.Errorf("files %q, concurrency %d; want the main file alone", cfg.files, cfg.Queues["images"].Concurrency)
	}
}

// Relative paths in a drop-in are taken from the main file's directory,
// as they are in the main file: moving a key into a drop-in keeps its
// meaning.
func TestDropInRelativePathsFromTheMainFile(t *testing.T) {
	t.Parallel()
	path := writeDropIns(t, dropInMain, map[string]string{
		"10-paths.toml": "[daemon]\nstate_dir = \"other-state\"\n[pipelines.web]\noutput_dir = \"out/web\"\n",
	})
	cfg, err := LoadConfig(path, testPlugins()...)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	if want := filepath.Join(dir, "other-state"); cfg.Daemon.StateDir != want {
		t.Errorf("state_dir = %q, want %q", cfg.Daemon.StateDir, want)
	}
	if got, want := imageConfig(cfg).Pipelines["web"].OutputDir, filepath.Join(dir, "out/web"); got != want {
		t.Errorf("output_dir = %q, want %q", got, want)
	}
}

// loadProblems loads a config that must fail and returns its problems.
func loadProblems(t *testing.T, path string) []string {
	t.Helper()
	_, err := LoadConfig(path, testPlugins()...)
	var cerr *ConfigError
	if !errors.As(err, &cerr) {
		t.Fatalf("err = %v, want a ConfigError", err)
	}
	return cerr.Problems
}

func wantProblems(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A syntax error names the drop-in and its line, each file's at once; the
// main file's then the drop-ins' in their order.
func TestDropInSyntaxErrorsNameTheirFile(t *testing.T) {
	t.Parallel()
	path := writeDropIns(t, strings.Replace(dropInMain, "[images]", "[images", 1), map[string]string{
		"10-ok.toml":     "[queues.images]\nconcurrency = 2\n",
		"20-broken.toml": "[queues.images]\nconcurrency = 2\nmax_attempts = = 3\n",
		"30-broken.toml": "[queues\n",
	})
	dir := DropInDir(path)
	wantProblems(t, loadProblems(t, path), []string{
		path + ":10: syntax error: expected '.' or ']' to end table name, but got '\\n' instead",
		filepath.Join(dir, "20-broken.toml") + ":3: syntax error: expected value but found '=' instead",
		filepath.Join(dir, "30-broken.toml") + ":1: syntax error: expected '.' or ']' to end table name, but got '\\n' instead",
	})
}

// A bad value, an unknown key and a value of the wrong type name the file
// that set them and its line, in the files' order then the lines'; a
// problem of a key no file sets names the main file without a line.
func TestDropInValueErrorsNameTheirFile(t *testing.T) {
	t.Parallel()
	path := writeDropIns(t, strings.Replace(dropInMain, "max_attempts = 4", "max_attempts = 0", 1), map[string]string{
		"10-queues.toml": "# the images queue\n[queues.images]\nconcurrency = 0\n\n[queues.video]\nconcurency = 2\n",
		"20-types.toml":  "[daemon]\nshutdown_timeout = 30\n[pipelines.web]\nqueue = \"nowhere\"\n",
		"30-hooks.toml":  "[queues.video]\nnotify_url = \"https://app.example/hook\"\n",
	})
	dir := DropInDir(path)
	wantProblems(t, loadProblems(t, path), []string{
		path + ":8: queues.images.max_attempts: must be at least 1",
		filepath.Join(dir, "10-queues.toml") + ":3: queues.images.concurrency: must be between 1 and 1024",
		filepath.Join(dir, "10-queues.toml") + ":6: queues.video.concurency: unknown key",
		filepath.Join(dir, "20-types.toml") + ":2: daemon.shutdown_timeout: must be a string, not an integer (30)",
		filepath.Join(dir, "20-types.toml") + `:4: pipelines.web.queue: queue "nowhere" is not configured (add a [queues.nowhere] table)`,
		path + ": webhooks.secret_file: must be set when a queue or pipeline has a notify_url: deliveries are signed with its key",
	})
}

// A value a drop-in replaces is the drop-in's: its problem names the
// drop-in, not the main file that set it first; a value in an array of
// tables is the file's that set the array.
func TestProblemOfAReplacedValueNamesTheLastFile(t *testing.T) {
	t.Parallel()
	path := writeDropIns(t, dropInMain, map[string]string{
		"10-bad.toml":      "[queues.images]\nconcurrency = 0\n",
		"20-variants.toml": "[pipelines.web]\n\n[[pipelines.web.variants]]\nname = \"a\"\nwidth = 100\n\n[[pipelines.web.variants]]\nname = \"b\"\nwidth = -1\n",
	})
	dir := DropInDir(path)
	got := loadProblems(t, path)
	want := []string{
		filepath.Join(dir, "10-bad.toml") + ":2: queues.images.concurrency: must be between 1 and 1024",
		filepath.Join(dir, "20-variants.toml") + ":9: pipelines.web.variants[1].width: ",
	}
	if len(got) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d = %q, want it to start %q", i, got[i], want[i])
		}
	}
}

// A conf.d that is no directory, and a drop-in that cannot be read, are
// errors naming them, all at once.
func TestUnreadableDropInsAreNamed(t *testing.T) {
	t.Parallel()
	t.Run("conf.d is a file", func(t *testing.T) {
		t.Parallel()
		path := writeConfig(t, dropInMain)
		if err := os.WriteFile(DropInDir(path), []byte("[queues]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		wantProblems(t, loadProblems(t, path), []string{DropInDir(path) + ": is a regular file, not a directory of drop-ins"})
	})
	t.Run("dangling symlink and a directory", func(t *testing.T) {
		t.Parallel()
		path := writeDropIns(t, dropInMain, nil)
		dir := DropInDir(path)
		if err := os.Symlink("/nonexistent/available/10-x.toml", filepath.Join(dir, "10-x.toml")); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(dir, "20-dir.toml"), 0o755); err != nil {
			t.Fatal(err)
		}
		wantProblems(t, loadProblems(t, path), []string{
			filepath.Join(dir, "10-x.toml") + ": open: no such file or directory",
			filepath.Join(dir, "20-dir.toml") + ": read: is a directory",
		})
	})
	t.Run("main file missing", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "kiln.toml")
		wantProblems(t, loadProblems(t, path), []string{path + ": open: no such file or directory"})
	})
}

// kiln writes no file over a drop-in: a pidfile at a drop-in's path is
// refused by the start checks, naming the drop-in.
func TestPidfileOverADropInIsRefused(t *testing.T) {
	t.Parallel()
	path := writeDropIns(t, dropInMain, map[string]string{"10-queues.toml": "[queues.images]\nconcurrency = 2\n"})
	dropIn := filepath.Join(DropInDir(path), "10-queues.toml")
	if err := os.WriteFile(filepath.Join(DropInDir(path), "20-pid.toml"), []byte("[daemon]\npidfile = \""+dropIn+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path, testPlugins()...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = startChecks(cfg)
	want := filepath.Join(DropInDir(path), "20-pid.toml") + ":2: daemon.pidfile: " + dropIn + " is both daemon.pidfile and the config drop-in " + dropIn
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("start checks: %v\nwant %q", err, want)
	}
}
