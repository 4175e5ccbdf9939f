package image

import (
	"os"
	"path/filepath"
)

// WorkerBinary is the name of the image worker executable: a small
// program that links only what rendering needs (cmd/kiln-image-worker),
// so that every worker process costs less memory than a copy of kilnd.
const WorkerBinary = "kiln-image-worker"

// InstalledWorker is where the packages install the worker binary.
const InstalledWorker = "/usr/libexec/kiln/" + WorkerBinary

// WorkerCommand is the command line image workers are started with, for
// the daemon whose executable is exe: the worker binary beside it (a
// build tree's bin/, where make build puts both), else the installed one,
// else exe itself with WorkerArg, which serves the same requests. The
// binary beside exe comes first so that a kilnd built from a tree never
// talks to the worker of an installed package of another version.
func WorkerCommand(exe string) []string {
	for _, p := range []string{filepath.Join(filepath.Dir(exe), WorkerBinary), InstalledWorker} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return []string{p}
		}
	}
	return []string{exe, WorkerArg}
}
