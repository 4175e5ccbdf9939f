package command

import (
	"maps"
	"slices"
	"strings"

	"kiln/worker"
	"kiln/worker/image/imageapi"
	"kiln/worker/webhook"
)

// Tables is the command plugin's part of kiln.toml: the [commands.NAME]
// tables, one job kind each.
type Tables struct {
	Commands map[string]Config `toml:"commands"`
}

var (
	_ worker.PluginConfig   = (*Tables)(nil)
	_ worker.StartChecker   = (*Tables)(nil)
	_ worker.PathLister     = (*Tables)(nil)
	_ worker.NameLister     = (*Tables)(nil)
	_ worker.JobTypeLister  = (*Tables)(nil)
	_ worker.EntryDefaulter = (*Config)(nil)
)

// SetDefaults implements worker.EntryDefaulter: what a [commands.NAME]
// table holds before its keys are read.
func (c *Config) SetDefaults() {
	*c = Config{KillGrace: worker.Duration(DefaultKillGrace)}
}

// builtinTypes are the job types of kiln's own kinds, which no command may
// take.
var builtinTypes = []string{worker.NoopType, imageapi.JobType, webhook.JobType}

// Fill implements worker.PluginConfig: a table without a queue uses the
// default one. Paths are not made absolute: a command runs only what its
// table names in full.
func (t *Tables) Fill(view *worker.ConfigView) {
	for name, c := range t.Commands {
		if c.Queue == "" {
			c.Queue = view.DefaultQueue
		}
		t.Commands[name] = c
	}
}

// Check implements worker.PluginConfig: every value of every table that
// can be checked without looking at the machine.
func (t *Tables) Check(view *worker.ConfigView, problems worker.Problems) {
	for _, name := range t.names() {
		c := t.Commands[name]
		if slices.Contains(builtinTypes, name) {
			problems.Report("commands."+name, "the job type "+name+" is kiln's own: give the command another name")
		}
		for _, p := range c.checkValues(name, view.Queues) {
			problems.Report(p.Key, p.Msg)
		}
		t.checkThen(name, view, problems)
	}
}

// CheckStart implements worker.StartChecker: each program must be there
// and runnable, and each working_dir a directory, before any job is
// accepted.
func (t *Tables) CheckStart(_ *worker.ConfigView, problems worker.Problems) {
	for _, name := range t.names() {
		c := t.Commands[name]
		for _, p := range c.checkMachine(name) {
			problems.Report(p.Key, p.Msg)
		}
	}
}

// Paths implements worker.PathLister: the programs, which kiln must never
// write over.
func (t *Tables) Paths(*worker.ConfigView) []worker.ConfigPath {
	var out []worker.ConfigPath
	for _, name := range t.names() {
		if c := t.Commands[name]; len(c.Command) > 0 && strings.HasPrefix(c.Command[0], "/") {
			out = append(out, worker.ConfigPath{Key: "commands." + name + ".command", Path: c.Command[0], Use: worker.PathRead})
		}
	}
	return out
}

// Names implements worker.NameLister: the commands, which are job types.
func (t *Tables) Names() map[string][]string {
	return map[string][]string{"commands": t.names()}
}

func (t *Tables) names() []string { return slices.Sorted(maps.Keys(t.Commands)) }
