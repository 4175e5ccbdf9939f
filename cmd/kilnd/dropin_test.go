package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// writeDropIn writes a drop-in of the env's config, in conf.d beside it,
// and returns its path.
func (e *env) writeDropIn(t *testing.T, name, text string) string {
	t.Helper()
	dir := filepath.Join(e.dir, "conf.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// kilnd -print-config prints the merged config, each value with the file
// and line that set it or (default), and no secret.
func TestPrintConfigShowsTheMergedConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	main := e.configText("", "")
	queues := e.writeDropIn(t, "10-queues.toml", "# more workers on this host\n[queues.images]\nconcurrency = 5\n")
	upload := e.writeDropIn(t, "20-upload.toml", `[commands.upload]
command = ["/bin/true", "https://store.example/put?signature=s3cret"]
queue = "images"
env = ["API_TOKEN=s3cret", "LANG=C.UTF-8"]
`)
	e.writeDropIn(t, "20-upload.toml.dpkg-old", "[broken\n")

	out, code := runKilnd(t, "-print-config", "-config", e.config)
	if code != 0 {
		t.Fatalf("-print-config: exit %d, want 0; output:\n%s", code, out)
	}
	for _, want := range []struct{ line, origin string }{
		{"concurrency = 5", queues + ":3"},
		{"max_attempts = 3", e.config + ":" + itoa(lineOf(t, main, "max_attempts = 3"))},
		{`state_dir = "` + e.state + `"`, e.config + ":2"},
		{`command = ["/bin/true", "https://store.example/put?***"]`, upload + ":2"},
		{`env = ["API_TOKEN=***", "LANG=***"]`, upload + ":4"},
		{`kill_grace = "5s"`, "(default)"},
		{`max_submit_body = "128KiB"`, "(default)"},
	} {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want.line) + ` +# ` + regexp.QuoteMeta(want.origin) + `$`)
		if !re.MatchString(out) {
			t.Errorf("-print-config lacks %q with origin %s:\n%s", want.line, want.origin, out)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("-print-config printed a secret:\n%s", out)
	}
	if !strings.Contains(out, "# Left out of conf.d (not a *.toml, or hidden): 20-upload.toml.dpkg-old\n") {
		t.Errorf("-print-config does not name the file it left out:\n%s", out)
	}
	t.Logf("kilnd -print-config -config %s:\n%s", e.config, out)
}

// A broken drop-in is refused by -check-config, -print-config and a start
// alike (exit 78), naming the drop-in and its line.
func TestBrokenDropInIsRefusedNamingIt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, text, want string
	}{
		{"syntax", "[queues.images]\nconcurrency = = 2\n", ":2: syntax error: expected value but found '=' instead"},
		{"value", "\n[queues.images]\nconcurrency = 0\n", ":3: queues.images.concurrency: must be between 1 and 1024"},
		{"type", "[queues.images]\nmax_attempts = \"three\"\n", `:2: queues.images.max_attempts: must be an integer, not a string ("three")`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.writeDropIn(t, "10-fine.toml", "[queues.images]\nmax_attempts = 2\n")
			broken := e.writeDropIn(t, "50-broken.toml", c.text)
			want := broken + c.want + "\n"
			for _, args := range [][]string{{"-check-config"}, {"-print-config"}, {}} {
				out, code := runKilnd(t, append(args, "-config", e.config)...)
				if code != 78 {
					t.Fatalf("kilnd %q: exit %d, want 78; output:\n%s", args, code, out)
				}
				if len(args) > 0 && out != want {
					t.Errorf("kilnd %q said:\n%s\nwant:\n%s", args, out, want)
				}
				if !strings.Contains(out, want) {
					t.Errorf("kilnd %q said:\n%s\nwant it to hold:\n%s", args, out, want)
				}
			}
			if c.name == "value" {
				t.Logf("kilnd -check-config -config %s:\n%s", e.config, want)
			}
		})
	}
}

// queueConcurrency is the concurrency of a queue in the running config.
func (e *env) queueConcurrency(t *testing.T, queue string) int {
	t.Helper()
	st, err := e.client().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	q, ok := st.Queues[queue]
	if !ok {
		t.Fatalf("status has no queue %s: %+v", queue, st.Queues)
	}
	return q.Concurrency
}

// A reload reads the drop-ins again: a changed one applies; a broken one
// is refused, naming it and its line, and the running config stays.
func TestReloadAppliesADropInAndRefusesABrokenOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.start(t)
	pic := e.picture(t, "r.jpg", 300, 200)
	if c := e.queueConcurrency(t, "images"); c != 2 {
		t.Fatalf("concurrency before the drop-in = %d, want the main file's 2", c)
	}

	e.writeDropIn(t, "50-host.toml", `[queues.images]
concurrency = 5

[pipelines.small]
queue = "images"
output_dir = "`+e.out+`/small"

[[pipelines.small.variants]]
name = "tiny"
width = 32
format = "png"
`)
	if r := e.kilnctl(t, "reload"); r.code != 0 {
		t.Fatalf("kilnctl reload: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if c := e.queueConcurrency(t, "images"); c != 5 {
		t.Fatalf("concurrency after the reload = %d, want the drop-in's 5", c)
	}
	d.waitLog(t, "drop_ins=50-host.toml ")
	if r := e.kilnctl(t, "submit", "-wait", "-pipeline", "small", pic); r.code != 0 || !strings.Contains(r.stdout, "32x21") {
		t.Fatalf("the drop-in's pipeline after the reload: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	broken := e.writeDropIn(t, "60-broken.toml", "[queues.images]\nconcurrency = 7\nmax_attempts = \n")
	r := e.kilnctl(t, "reload")
	want := broken + ":3: syntax error: "
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("kilnctl reload with a broken drop-in: exit %d %q %q; want a refusal naming %s", r.code, r.stdout, r.stderr, want)
	}
	if c := e.queueConcurrency(t, "images"); c != 5 {
		t.Fatalf("concurrency after the refused reload = %d, want the running 5", c)
	}
	t.Logf("kilnctl reload with %s (exit %d):\n%s", broken, r.code, r.stderr)

	// SIGHUP reads them as kilnctl's request does; its refusal is logged.
	e.writeDropIn(t, "60-broken.toml", "[queues.images]\nconcurrency = 7\n\n[pipelines.small]\nqueue = \"nowhere\"\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.notify.waitFor(t, "READY=1")
	d.waitLog(t, broken+`:5: pipelines.small.queue: queue \"nowhere\" is not configured`)
	if c := e.queueConcurrency(t, "images"); c != 5 {
		t.Fatalf("concurrency after the refused SIGHUP = %d, want the running 5", c)
	}

	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	e.writeDropIn(t, "50-host.toml", "[queues.images]\nconcurrency = 6\n")
	if r := e.kilnctl(t, "reload"); r.code != 0 {
		t.Fatalf("kilnctl reload: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if c := e.queueConcurrency(t, "images"); c != 6 {
		t.Fatalf("concurrency after the drop-in changed = %d, want 6", c)
	}
	if r := e.kilnctl(t, "submit", "-pipeline", "small", pic); r.code == 0 {
		t.Fatalf("pipeline small, which the changed drop-in no longer has, still takes jobs: %q", r.stdout)
	}
}
