package daemon

import (
	"fmt"
	"reflect"
	"slices"

	"kiln/worker"
)

// checkPlugins refuses plugins that cannot be told apart: two of one name,
// a config that is not a pointer to a struct, or a top-level table that
// two claim (the daemon among them). Each is a mistake of the build, not
// of the config file.
func checkPlugins(plugins []worker.Plugin) error {
	owner := map[string]string{}
	for _, f := range tableFields(reflect.ValueOf(&Config{}).Elem()) {
		owner[f.name] = "the daemon"
	}
	names := map[string]bool{}
	for _, p := range plugins {
		if names[p.Name()] {
			return fmt.Errorf("register plugin %q: registered twice", p.Name())
		}
		names[p.Name()] = true
		v := reflect.ValueOf(p.NewConfig())
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			return fmt.Errorf("register plugin %q: its config is a %s, not a pointer to a struct of tables", p.Name(), v.Type())
		}
		for _, f := range tableFields(v.Elem()) {
			if o, taken := owner[f.name]; taken {
				return fmt.Errorf("register plugin %q: table [%s] is %s's", p.Name(), f.name, o)
			}
			owner[f.name] = "plugin " + p.Name()
		}
	}
	return nil
}

// pluginPaths are the paths the plugins' parts of c make kiln use.
func (c *Config) pluginPaths() []worker.ConfigPath {
	var out []worker.ConfigPath
	for _, pc := range c.plugins {
		if l, ok := pc.(worker.PathLister); ok {
			out = append(out, l.Paths(&c.view)...)
		}
	}
	return out
}

// names are what the plugins' tables name (pipelines, commands), by what
// they are, each list sorted.
func (c *Config) names() map[string][]string {
	out := map[string][]string{}
	for _, pc := range c.plugins {
		if l, ok := pc.(worker.NameLister); ok {
			for what, names := range l.Names() {
				out[what] = append(out[what], names...)
			}
		}
	}
	for _, names := range out {
		slices.Sort(names)
	}
	return out
}

// jobTypes are the job types a chain's step may run as: noop, which the
// daemon runs itself, and those the plugins' tables define, sorted, each
// once.
func (c *Config) jobTypes() []string {
	out := []string{worker.NoopType}
	for _, pc := range c.plugins {
		if l, ok := pc.(worker.JobTypeLister); ok {
			out = append(out, l.JobTypes()...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// nameCounts are how many of each of names there are, for the log.
func (c *Config) nameCounts() []any {
	names := c.names()
	var out []any
	for _, what := range sortedKeys(names) {
		out = append(out, what, len(names[what]))
	}
	return out
}
