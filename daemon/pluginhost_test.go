package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"kiln/api"
	"kiln/worker"
)

// probe is a plugin of the tests' own, with a [probe] table, a map of
// tables in it, a queue of its own, a start check, a reload that refuses
// one value and keeps another for a restart, and work of its own that
// submits a job through the daemon: every way in which a kind plugs in,
// driven by the daemon as kilnd drives the image and webhook plugins.
type probe struct {
	name  string // "probe" unless a test needs two
	table string // the table its config claims; "probe" unless set
	host  worker.Host

	// submitted hears the answer of the submit Run makes.
	submitted chan error
	reloaded  atomic.Int32
	closed    atomic.Bool
}

func newProbe() *probe { return &probe{name: "probe", table: "probe", submitted: make(chan error, 1)} }

type probeConfig struct {
	Probe probeTable `toml:"probe"`
}

// queuesClaim is a config that claims a table of the daemon's.
type queuesClaim struct {
	Queues map[string]probeItem `toml:"queues"`
}

// otherClaim is a second config that claims [probe].
type otherClaim struct {
	Probe probeTable `toml:"probe"`
}

type probeTable struct {
	Greeting string               `toml:"greeting"`
	Limit    int                  `toml:"limit"`
	File     string               `toml:"file"`
	Items    map[string]probeItem `toml:"items"`
}

type probeItem struct {
	Weight int    `toml:"weight"`
	Label  string `toml:"label"`
}

// probeQueue is the queue the probe's jobs go to.
const probeQueue = "_probe"

func (it *probeItem) SetDefaults() { it.Weight = 7 }

func (p *probe) Name() string { return p.name }

func (p *probe) NewConfig() worker.PluginConfig {
	switch p.table {
	case "queues":
		return &queuesClaim{}
	case "other":
		return &otherClaim{}
	}
	return &probeConfig{Probe: probeTable{Greeting: "hello"}}
}

func (c *queuesClaim) Fill(*worker.ConfigView)                   {}
func (c *queuesClaim) Check(*worker.ConfigView, worker.Problems) {}
func (c *otherClaim) Fill(*worker.ConfigView)                    {}
func (c *otherClaim) Check(*worker.ConfigView, worker.Problems)  {}

func (c *probeConfig) AddQueues(*worker.ConfigView) map[string]worker.QueueConfig {
	q := worker.DefaultQueueConfig()
	q.Concurrency = 1
	return map[string]worker.QueueConfig{probeQueue: q}
}

func (c *probeConfig) Fill(view *worker.ConfigView) {
	c.Probe.File = absPath(view.ConfigDir, c.Probe.File)
}

func (c *probeConfig) Check(view *worker.ConfigView, problems worker.Problems) {
	if c.Probe.Limit < 0 {
		problems.Report("probe.limit", "must not be negative")
	}
	for _, name := range sortedKeys(c.Probe.Items) {
		if c.Probe.Items[name].Weight > 100 {
			problems.Report("probe.items."+name+".weight", "must be at most 100")
		}
	}
	if _, ok := view.Queues[probeQueue]; !ok {
		problems.Report("probe", "the probe's queue was not added")
	}
}

func (c *probeConfig) CheckStart(_ *worker.ConfigView, problems worker.Problems) {
	if c.Probe.File == "" {
		return
	}
	if _, err := os.Stat(c.Probe.File); err != nil {
		problems.Report("probe.file", err.Error())
	}
}

func (c *probeConfig) Names() map[string][]string {
	return map[string][]string{"probes": sortedKeys(c.Probe.Items)}
}

func (p *probe) config() *probeConfig { return p.host.Config().(*probeConfig) }

func (p *probe) Start(host worker.Host) ([]worker.Kind, error) {
	p.host = host
	return []worker.Kind{probeKind{}}, nil
}

// Run submits one probe job through the daemon, as the webhook plugin
// submits its deliveries, and waits for the end.
func (p *probe) Run(ctx context.Context) {
	p.submitted <- p.host.Submit(ctx, []worker.JobRequest{{Type: "probe", Payload: json.RawMessage(`"from run"`), UniqueKey: "run"}})
	<-ctx.Done()
}

func (p *probe) Reload(next worker.PluginConfig, problems worker.Problems) []string {
	n := next.(*probeConfig)
	if n.Probe.Greeting == "refuse" {
		problems.Report("probe.greeting", "refused by the probe")
	}
	if old := p.config().Probe.Limit; n.Probe.Limit != old {
		n.Probe.Limit = old
		return []string{"probe.limit"}
	}
	return nil
}

func (p *probe) Reloaded() { p.reloaded.Add(1) }
func (p *probe) Close()    { p.closed.Store(true) }

// probeKind runs jobs of type probe, which do nothing; it describes them
// by their payload.
type probeKind struct{}

func (probeKind) Type() string                                                       { return "probe" }
func (probeKind) Admit(json.RawMessage) (string, error)                              { return probeQueue, nil }
func (probeKind) Handle(context.Context, *worker.JobRecord) (json.RawMessage, error) { return nil, nil }

func (probeKind) Describe(j *worker.JobRecord) worker.JobDescription {
	return worker.JobDescription{Summary: "probe " + string(j.Payload), Input: "nothing"}
}

// A plugin's tables are decoded with the daemon's: every problem of both
// is reported at once, each with its file, line and full key, a new entry
// of a map of tables starts from its SetDefaults, and a table nobody
// claims is an unknown key.
func TestPluginTablesAreDecodedWithTheDaemons(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `[queues.q]
concurrency = 0

[probe]
greeting = 5
limt = 3
limit = -1

[probe.items.a]
label = "x"

[probe.items.b]
weight = 101

[nowhere]
`)
	_, err := LoadConfig(path, newProbe())
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("LoadConfig = %v, want a ConfigError", err)
	}
	want := []string{
		path + ":2: queues.q.concurrency: must be between 1 and 1024",
		path + `:5: probe.greeting: must be a string, not an integer (5)`,
		path + ":6: probe.limt: unknown key",
		path + ":7: probe.limit: must not be negative",
		path + ":13: probe.items.b.weight: must be at most 100",
		path + ":15: nowhere: unknown key",
	}
	if strings.Join(ce.Problems, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(ce.Problems, "\n"), strings.Join(want, "\n"))
	}

	path = writeConfig(t, "[probe]\nfile = \"probe.data\"\n[probe.items.a]\nlabel = \"x\"\n[probe.items.b]\nweight = 3\n")
	cfg, err := LoadConfig(path, newProbe())
	if err != nil {
		t.Fatal(err)
	}
	pc := cfg.plugins[0].(*probeConfig)
	if pc.Probe.Greeting != "hello" || pc.Probe.Items["a"].Weight != 7 || pc.Probe.Items["b"].Weight != 3 {
		t.Errorf("probe table %+v: want the default greeting, item a's default weight, item b's own", pc.Probe)
	}
	if want := filepath.Join(filepath.Dir(path), "probe.data"); pc.Probe.File != want {
		t.Errorf("probe.file = %q, want %q (from the config file's directory)", pc.Probe.File, want)
	}
	if q, ok := cfg.Queues[probeQueue]; !ok || q.Concurrency != 1 {
		t.Errorf("queue %s = %+v, %v: want the probe's own", probeQueue, q, ok)
	}
	if names := cfg.names(); strings.Join(names["probes"], ",") != "a,b" {
		t.Errorf("names = %v", names)
	}
}

// Two plugins of one name, or two that claim one table (the daemon's
// among them), are a mistake of the build: nothing is read, and kilnd
// does not start.
func TestPluginsThatCannotBeToldApartAreRefused(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "")
	queues := &probe{name: "queues", table: "queues"}
	other := &probe{name: "other", table: "other"}
	for _, tc := range []struct {
		plugins []worker.Plugin
		want    string
	}{
		{[]worker.Plugin{newProbe(), newProbe()}, `register plugin "probe": registered twice`},
		{[]worker.Plugin{queues}, `register plugin "queues": table [queues] is the daemon's`},
		{[]worker.Plugin{newProbe(), other}, `register plugin "other": table [probe] is plugin probe's`},
	} {
		if _, err := LoadConfig(path, tc.plugins...); err == nil || err.Error() != tc.want {
			t.Errorf("LoadConfig = %v, want %q", err, tc.want)
		}
		var stderr bytes.Buffer
		code := Run(Options{ConfigPath: path, CheckConfig: true, Stdout: &stderr, Stderr: &stderr}, tc.plugins...)
		if code != ExitFailure || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("Run = %d, %q; want %d and %q", code, stderr.String(), ExitFailure, tc.want)
		}
	}
}

// kilnd -check-config runs the plugins' start checks with the daemon's,
// in the same words.
func TestCheckConfigRunsThePluginsStartChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeConfig(t, `[daemon]
state_dir = "`+dir+`/state"
pidfile = "`+dir+`/kilnd.pid"
socket = "`+dir+`/kiln.sock"

[probe]
file = "`+dir+`/missing"
`)
	var stdout, stderr bytes.Buffer
	code := Run(Options{ConfigPath: path, CheckConfig: true, Stdout: &stdout, Stderr: &stderr}, newProbe())
	want := path + ":7: probe.file: stat " + dir + "/missing: no such file or directory"
	if code != ExitConfig || strings.TrimSpace(stderr.String()) != want {
		t.Fatalf("-check-config = %d, %q; want %d and %q", code, stderr.String(), ExitConfig, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "missing"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if code := Run(Options{ConfigPath: path, CheckConfig: true, Stdout: &stdout, Stderr: &stderr}, newProbe()); code != ExitOK || stdout.String() != "config OK\n" {
		t.Fatalf("-check-config with the file there = %d, %q %q", code, stdout.String(), stderr.String())
	}
}

// A started daemon drives a plugin through its life: its kind takes jobs,
// its own work submits through the daemon, its names are in the status, a
// reload it refuses changes nothing, one it takes is in effect when it is
// told, with the values it keeps for a restart kept, and it is closed at
// shutdown.
func TestPluginLifeInARunningDaemon(t *testing.T) {
	t.Parallel()
	p := newProbe()
	t.Cleanup(func() {
		// Runs after the daemon's own cleanup, which closes it.
		if !p.closed.Load() {
			t.Error("the plugin was not closed at shutdown")
		}
	})
	probeTables := "\n[probe]\ngreeting = \"hi\"\n[probe.items.a]\n"
	b := setupServerWith(t, func(dir string) string { return serverConfig(dir, probeTables) }, append(testPlugins(), p))
	ctx := context.Background()

	if err := <-p.submitted; err != nil {
		t.Fatalf("the plugin's submit through the daemon: %v", err)
	}
	jobs, err := b.client.List(ctx, probeQueue, "", 10)
	if err != nil || len(jobs) != 1 || jobs[0].Type != "probe" || jobs[0].UniqueKey != "run" {
		t.Fatalf("jobs in %s: %+v, %v; want the one the plugin submitted", probeQueue, jobs, err)
	}
	job, err := b.client.Job(ctx, jobs[0].ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := job.Description; d == nil || d.Summary != `probe "from run"` || d.Input != "nothing" {
		t.Errorf("job description %+v: want the kind's own", d)
	}

	st, err := b.client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(st.Names["probes"], ",") != "a" || strings.Join(st.Names["pipelines"], ",") != "web" {
		t.Errorf("status names %v: want the probe's items and the pipelines", st.Names)
	}

	refused := serverConfig(b.dir, "\n[probe]\ngreeting = \"refuse\"\n")
	b.writeConfig(t, refused)
	line := strings.Count(refused[:strings.Index(refused, "greeting")], "\n") + 1
	code, body := b.do(t, "POST", "/v1/reload", "")
	if want := fmt.Sprintf("%s:%d: probe.greeting: refused by the probe", b.config, line); code != http.StatusUnprocessableEntity || !strings.Contains(body, want) {
		t.Fatalf("reload the plugin refuses: %d %s; want 422 and %q", code, body, want)
	}
	if n := p.reloaded.Load(); n != 0 || p.config().Probe.Greeting != "hi" {
		t.Fatalf("after a refused reload: told %d times, greeting %q; want the old config, untold", n, p.config().Probe.Greeting)
	}

	b.writeConfig(t, serverConfig(b.dir, "\n[probe]\ngreeting = \"bye\"\nlimit = 9\n"))
	if code, body := b.do(t, "POST", "/v1/reload", ""); code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
	if n := p.reloaded.Load(); n != 1 || p.config().Probe.Greeting != "bye" || p.config().Probe.Limit != 0 {
		t.Errorf("after a reload: told %d times, config %+v; want told once, the new greeting and the old limit", n, p.config().Probe)
	}
	if !strings.Contains(b.log.String(), "needs restart: probe.limit") {
		t.Errorf("the value kept for a restart is not logged:\n%s", b.log.String())
	}
	var status api.Status
	if code, body := b.do(t, "GET", "/v1/status", ""); code != http.StatusOK || json.Unmarshal([]byte(body), &status) != nil || len(status.Names["probes"]) != 0 {
		t.Errorf("status after the reload: %d %s; want no probes", code, body)
	}
}
