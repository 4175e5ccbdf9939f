package image

import "kiln/worker"

// Plugin returns the image plugin: the [images] and [pipelines] tables,
// and the image kind, whose pictures are decoded in worker processes of
// the worker binary beside the running executable or installed
// (FindWorker).
func Plugin() worker.Plugin { return &plugin{} }

// PluginWithWorker is Plugin with its worker processes started from the
// worker binary at path, wherever the running executable is (a test's).
func PluginWithWorker(path string) worker.Plugin { return &plugin{worker: path} }

type plugin struct {
	worker  string       // the worker binary; "" for FindWorker's
	workers *Workers     // nil until Start
	host    *worker.Host // nil until Start
}

func (*plugin) Name() string { return "image" }

func (p *plugin) NewConfig() worker.PluginConfig {
	c := DefaultConfig()
	c.worker = p.worker
	return &c
}

func (p *plugin) Start(host worker.Host) ([]worker.Kind, error) {
	// The default input root: a fresh install has somewhere to put pictures.
	if err := MakeUploadDir(host.View().StateDir); err != nil {
		return nil, err
	}
	p.host = &host
	config := func() *Config { return host.Config().(*Config) }
	binary, err := config().workerBinary()
	if err != nil {
		return nil, err
	}
	if libvips, ok := workerAnswers.version(binary); ok && host.Log != nil {
		host.Log.Info("image workers", "worker", binary, "libvips", libvips)
	}
	p.workers = NewWorkers([]string{binary}, func() ImagesConfig { return config().Images })
	if o, ok := host.Observer.(WorkerObserver); ok {
		p.workers.Observe(o)
	}
	return []worker.Kind{NewKind(func() Settings { return config().Settings() }, p.workers)}, nil
}

// Reload takes any image config whose thens name running job types and
// whose formats the workers' libvips can write (checked as at start): every
// setting applies to the next job and the next worker process (a then to
// the next job that finishes), but for the inboxes, kept until a restart.
func (p *plugin) Reload(next worker.PluginConfig, problems worker.Problems) []string {
	next.(*Config).checkWorker(problems)
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
