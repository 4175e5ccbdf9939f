package command

import (
	"slices"

	"kiln/worker"
)

// Plugin returns the command plugin: one job kind per [commands.NAME]
// table, each running its table's program.
func Plugin() worker.Plugin { return &plugin{} }

type plugin struct {
	host worker.Host
}

func (*plugin) Name() string { return "command" }

func (*plugin) NewConfig() worker.PluginConfig { return &Tables{} }

// Start returns a kind for each command of the config the daemon starts
// with. Each reads its table at each submit and each job, so that a
// reload's change to it applies to the next.
func (p *plugin) Start(host worker.Host) ([]worker.Kind, error) {
	p.host = host
	var kinds []worker.Kind
	for _, name := range p.tables().names() {
		kinds = append(kinds, NewKind(name, func() (Config, bool) {
			c, ok := p.tables().Commands[name]
			return c, ok
		}, Options{DefaultQueue: host.View().DefaultQueue, Log: host.Log}))
	}
	return kinds, nil
}

func (p *plugin) tables() *Tables { return p.host.Config().(*Tables) }

// Reload checks the programs and directories the new tables name, as a
// start would, and that their thens name running job types. The daemon's
// job types are fixed at start: a command the reload adds is left out,
// and one it removes is kept, until a restart.
func (p *plugin) Reload(next worker.PluginConfig, problems worker.Problems) []string {
	nt, cur := next.(*Tables), p.tables()
	var restart []string
	for _, name := range nt.names() {
		if _, running := cur.Commands[name]; !running {
			delete(nt.Commands, name)
			restart = append(restart, "commands."+name)
		}
	}
	for _, name := range cur.names() {
		if _, kept := nt.Commands[name]; !kept {
			if nt.Commands == nil {
				nt.Commands = map[string]Config{}
			}
			nt.Commands[name] = cur.Commands[name]
			restart = append(restart, "commands."+name)
		}
	}
	nt.CheckStart(nil, problems)
	if p.host.Kind != nil {
		nt.reloadThen(p.host.Kind, problems)
	}
	slices.Sort(restart)
	return restart
}

func (*plugin) Reloaded() {}

// Close has nothing to stop: a running program is ended by its job's
// context, which the pool cancels at shutdown.
func (*plugin) Close() {}
