package image

import (
	"fmt"
	"maps"
	"path/filepath"
	"runtime"
	"slices"

	"kiln/worker"
)

// Config is the image plugin's part of kiln.toml: the [images] table and
// the [pipelines.NAME] tables.
type Config struct {
	Images    ImagesConfig        `toml:"images"`
	Pipelines map[string]Pipeline `toml:"pipelines"`

	worker string // the worker binary; "" for FindWorker's
}

var (
	_ worker.PluginConfig    = (*Config)(nil)
	_ worker.NotifyURLLister = (*Config)(nil)
	_ worker.PathLister      = (*Config)(nil)
	_ worker.NameLister      = (*Config)(nil)
	_ worker.JobTypeLister   = (*Config)(nil)
)

// DefaultConfig is the image plugin's config where the file says nothing.
func DefaultConfig() Config {
	return Config{Images: DefaultImagesConfig()}
}

// Fill implements worker.PluginConfig: each pipeline's queue and variant
// defaults, its output_dir made absolute, the default input root under the
// state directory, and the libvips threads of each worker.
func (c *Config) Fill(view *worker.ConfigView) {
	for name, p := range c.Pipelines {
		if p.Queue == "" {
			p.Queue = view.DefaultQueue
		}
		p.FillDefaults()
		if p.OutputDir != "" && !filepath.IsAbs(p.OutputDir) {
			p.OutputDir = filepath.Join(view.ConfigDir, p.OutputDir)
		}
		c.Pipelines[name] = p
	}
	if view.StateDir != "" {
		c.Images.FillInputRoots(view.StateDir)
	}
	c.fillInboxes(view)
	if c.Images.ThreadsPerWorker == 0 {
		// Share the CPUs among the picture jobs that may run at once: one
		// job alone gets them all; a full queue gets one each, which is
		// where throughput is best.
		busy := 0
		counted := map[string]bool{}
		for _, p := range c.Pipelines {
			if !counted[p.Queue] {
				counted[p.Queue] = true
				busy += view.Queues[p.Queue].Concurrency
			}
		}
		c.Images.ThreadsPerWorker = max(1, runtime.NumCPU()/max(1, busy))
	}
}

// Check implements worker.PluginConfig.
func (c *Config) Check(view *worker.ConfigView, problems worker.Problems) {
	im := &c.Images
	if im.MaxPixels < 0 {
		problems.Report("images.max_pixels", "must not be negative (0 means no limit)")
	}
	for i, root := range im.AllowedInputRoots {
		if !filepath.IsAbs(root) {
			problems.Report(fmt.Sprintf("images.allowed_input_roots[%d]", i), fmt.Sprintf("%q must be an absolute path", root))
		}
	}
	if im.RecycleAfter < 0 {
		problems.Report("images.recycle_after", "must not be negative (0 means never)")
	}
	if im.ThreadsPerWorker < 0 {
		problems.Report("images.threads_per_worker", "must not be negative (0 means the CPUs shared out)")
	}
	for _, name := range c.pipelineNames() {
		p := c.Pipelines[name]
		if _, ok := view.Queues[p.Queue]; !ok {
			problems.Report("pipelines."+name+".queue", fmt.Sprintf("queue %q is not configured (add a [queues.%s] table)", p.Queue, p.Queue))
		}
		for _, fe := range p.Check() {
			problems.Report("pipelines."+name+"."+fe.Key, fe.Msg)
		}
		c.checkThen(name, view, problems)
	}
	c.checkInboxes(problems)
}

// NotifyURLs implements worker.NotifyURLLister: the pipelines' own.
func (c *Config) NotifyURLs() []worker.NotifyURL {
	var out []worker.NotifyURL
	for _, name := range c.pipelineNames() {
		if u := c.Pipelines[name].NotifyURL; u != "" {
			out = append(out, worker.NotifyURL{Key: "pipelines." + name + ".notify_url", URL: u})
		}
	}
	return out
}

// Paths implements worker.PathLister: each pipeline's output_dir, which
// its jobs write into, and its inbox.
func (c *Config) Paths(*worker.ConfigView) []worker.ConfigPath {
	var out []worker.ConfigPath
	for _, name := range c.pipelineNames() {
		out = append(out, worker.ConfigPath{
			Key: "pipelines." + name + ".output_dir", Path: c.Pipelines[name].OutputDir,
			Use: worker.PathOutputDir, For: "jobs of pipeline " + name,
		})
	}
	return append(out, c.inboxPaths()...)
}

// Names implements worker.NameLister: the pipelines, which a submit names.
func (c *Config) Names() map[string][]string {
	return map[string][]string{"pipelines": c.pipelineNames()}
}

// Settings is the image kind's view of this config.
func (c *Config) Settings() Settings {
	return Settings{Pipelines: c.Pipelines, Images: c.Images}
}

func (c *Config) pipelineNames() []string { return slices.Sorted(maps.Keys(c.Pipelines)) }
