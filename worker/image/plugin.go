package image

import (
	"fmt"
	"os"

	"kiln/worker"
)

// WorkerArg is the argument kilnd is run again with to become an image
// worker process (ServeWorker) when no worker binary is found
// (WorkerCommand): pictures are decoded in a process the daemon can kill.
const WorkerArg = "-image-worker"

// Plugin returns the image plugin: the [images] and [pipelines] tables,
// and the image kind, whose pictures are decoded in worker processes
// started with WorkerCommand.
func Plugin() worker.Plugin { return &plugin{} }

type plugin struct {
	workers *Workers     // nil until Start
	host    *worker.Host // nil until Start
}

func (*plugin) Name() string { return "image" }

func (*plugin) NewConfig() worker.PluginConfig {
	c := DefaultConfig()
	return &c
}

func (p *plugin) Start(host worker.Host) ([]worker.Kind, error) {
	// The default input root: a fresh install has somewhere to put pictures.
	if err := MakeUploadDir(host.View().StateDir); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable for image workers: %w", err)
	}
	p.host = &host
	config := func() *Config { return host.Config().(*Config) }
	p.workers = NewWorkers(WorkerCommand(exe), func() ImagesConfig { return config().Images })
	if o, ok := host.Observer.(WorkerObserver); ok {
		p.workers.Observe(o)
	}
	return []worker.Kind{NewKind(func() Settings { return config().Settings() }, p.workers)}, nil
}

// Reload takes any image config whose thens name running job types and
// whose formats libvips here can write (checked as at start): every
// setting applies to the next job and the next worker process (a then to
// the next job that finishes), but for the inboxes, kept until a restart.
func (p *plugin) Reload(next worker.PluginConfig, problems worker.Problems) []string {
	next.(*Config).checkEncoders(problems)
	if p.host == nil {
		return nil
	}
	if p.host.Kind != nil {
		reloadThen(next.(*Config), p.host.Kind, problems)
	}
	return reloadInboxes(p.host.Config().(*Config), next.(*Config))
}

// Reloaded stops the idle workers started under the settings before.
func (p *plugin) Reloaded() {
	if p.workers != nil {
		p.workers.ConfigChanged()
	}
}

func (p *plugin) Close() {
	if p.workers != nil {
		p.workers.Close()
	}
}
