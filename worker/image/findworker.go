package image

import (
	"fmt"
	"os"
	"path/filepath"
)

// WorkerBinary is the name of the image worker executable
// (cmd/kiln-image-worker): the only program of kiln that links libvips,
// so that the daemon carries none of its memory and every worker process
// costs little.
const WorkerBinary = "kiln-image-worker"

// InstalledWorker is where the packages install the worker binary.
const InstalledWorker = "/usr/libexec/kiln/" + WorkerBinary

// FindWorker returns the worker binary for the daemon whose executable is
// exe: the one beside it (a build tree's bin/, where make build puts
// both), else the installed one. The binary beside exe comes first so that
// a kilnd built from a tree never talks to the worker of an installed
// package of another version.
func FindWorker(exe string) (string, error) {
	beside := filepath.Join(filepath.Dir(exe), WorkerBinary)
	for _, p := range []string{beside, InstalledWorker} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("find image worker: neither %s nor %s is an executable file (install kiln's package, or make build)", beside, InstalledWorker)
}

// workerBinary is the worker binary of c's workers: the plugin's own if it
// was given one (PluginWithWorker), else FindWorker's for the running
// executable.
func (c *Config) workerBinary() (string, error) {
	if c.worker != "" {
		return c.worker, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find image worker: find own executable: %w", err)
	}
	return FindWorker(exe)
}
