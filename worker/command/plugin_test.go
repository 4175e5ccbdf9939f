package command

import (
	"encoding/json"
	"strings"
	"testing"

	"kiln/worker"
)

// problemList is a worker.Problems that keeps what it is told.
type problemList []string

func (p *problemList) Report(key, msg string)          { *p = append(*p, key+": "+msg) }
func (p *problemList) ReportTransient(key, msg string) { p.Report(key, msg) }

func view() *worker.ConfigView {
	return &worker.ConfigView{DefaultQueue: "default", Queues: map[string]worker.QueueConfig{"default": {}, "uploads": {}}}
}

// tablesOf decodes tables as the daemon would: each entry from its
// defaults, then filled.
func tablesOf(entries map[string]Config) *Tables {
	t := &Tables{Commands: map[string]Config{}}
	for name, c := range entries {
		var d Config
		d.SetDefaults()
		if c.KillGrace == 0 {
			c.KillGrace = d.KillGrace
		}
		t.Commands[name] = c
	}
	t.Fill(view())
	return t
}

func TestPluginRunsOneKindPerTable(t *testing.T) {
	t.Parallel()
	current := tablesOf(map[string]Config{
		"upload": {Command: []string{"/bin/true"}, Queue: "uploads"},
		"notify": {Command: []string{"/bin/echo", "hi"}},
	})
	p := Plugin()
	kinds, err := p.Start(worker.Host{Config: func() worker.PluginConfig { return current }, View: view, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, k := range kinds {
		types = append(types, k.Type())
	}
	if strings.Join(types, ",") != "notify,upload" {
		t.Fatalf("kinds = %v", types)
	}
	if q, err := kinds[0].Admit(json.RawMessage(`{}`)); err != nil || q != "default" {
		t.Fatalf("notify's queue = %q, %v", q, err)
	}
	if q, err := kinds[1].Admit(json.RawMessage(`{}`)); err != nil || q != "uploads" {
		t.Fatalf("upload's queue = %q, %v", q, err)
	}
	if d := kinds[0].(worker.JobDescriber).Describe(nil); d.Summary != "command notify: /bin/echo hi" {
		t.Fatalf("description = %+v", d)
	}

	// A reload changes a table at once, keeps a removed one and leaves out
	// an added one until a restart, and refuses a program that is not
	// there.
	next := tablesOf(map[string]Config{
		"upload": {Command: []string{"/bin/false"}, Queue: "default"},
		"added":  {Command: []string{"/bin/true"}},
	})
	var problems problemList
	restart := p.Reload(next, &problems)
	if strings.Join(restart, ",") != "commands.added,commands.notify" || len(problems) != 0 {
		t.Fatalf("reload: needs restart %v, problems %v", restart, problems)
	}
	if _, ok := next.Commands["added"]; ok {
		t.Fatal("a table the reload added stays in the new config")
	}
	if c := next.Commands["notify"]; len(c.Command) != 2 {
		t.Fatal("a table the reload removed is gone before a restart")
	}
	current = next
	if q, _ := kinds[1].Admit(json.RawMessage(`{}`)); q != "default" {
		t.Fatalf("upload's queue after reload = %q", q)
	}

	broken := tablesOf(map[string]Config{
		"upload": {Command: []string{"/nonexistent/upload"}},
		"notify": {Command: []string{"/bin/echo"}},
	})
	problems = nil
	p.Reload(broken, &problems)
	if len(problems) != 1 || problems[0] != "commands.upload.command: /nonexistent/upload: no such file or directory" {
		t.Fatalf("reload to a missing program: %v", problems)
	}
}

func TestTablesCheck(t *testing.T) {
	t.Parallel()
	tables := tablesOf(map[string]Config{
		"image":  {Command: []string{"/bin/true"}},
		"ok":     {Command: []string{"/bin/true"}, Queue: "uploads"},
		"lost":   {Command: []string{"/bin/true"}, Queue: "nowhere"},
		"reldir": {Command: []string{"bin/run"}, WorkingDir: "work"},
	})
	var problems problemList
	tables.Check(view(), &problems)
	want := []string{
		"commands.image: the job type image is kiln's own: give the command another name",
		`commands.lost.queue: queue "nowhere" is not configured (add a [queues.nowhere] table)`,
		`commands.reldir.command: "bin/run" must be an absolute path (programs are never looked up in PATH)`,
		`commands.reldir.working_dir: "work" must be an absolute path`,
	}
	if strings.Join(problems, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
	// Check reads no file; CheckStart does.
	missing := tablesOf(map[string]Config{"m": {Command: []string{"/nonexistent/m"}}})
	problems = nil
	missing.Check(view(), &problems)
	if len(problems) != 0 {
		t.Fatalf("Check looked at the machine: %v", problems)
	}
	missing.CheckStart(view(), &problems)
	if len(problems) != 1 || !strings.HasPrefix(problems[0], "commands.m.command: /nonexistent/m: ") {
		t.Fatalf("CheckStart: %v", problems)
	}
	if paths := missing.Paths(view()); len(paths) != 1 || paths[0].Path != "/nonexistent/m" || paths[0].Use != worker.PathRead {
		t.Fatalf("Paths = %+v", paths)
	}
	if n := tables.Names()["commands"]; strings.Join(n, ",") != "image,lost,ok,reldir" {
		t.Fatalf("Names = %v", n)
	}
}
