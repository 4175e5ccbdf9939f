package daemon

import (
	"kiln/worker"
	"kiln/worker/image"
	"kiln/worker/webhook"
)

// testPlugins are the plugins kilnd's main registers: the daemon's tests
// read and run the same config files it does.
func testPlugins() []worker.Plugin {
	return []worker.Plugin{image.PluginWithWorker(testWorkerBinary), webhook.Plugin()}
}

// imageConfig is the image plugin's part of cfg.
func imageConfig(cfg *Config) *image.Config {
	for _, pc := range cfg.plugins {
		if c, ok := pc.(*image.Config); ok {
			return c
		}
	}
	panic("no image plugin in the config")
}
