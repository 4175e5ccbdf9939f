package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"kiln/worker"
)

// packagedStateDir is the state directory of the shipped unit, the one
// place besides /run/kiln it lets kilnd write (ProtectSystem=strict).
const packagedStateDir = "/var/lib/kiln"

// pathWarnings gives the plugins' own warnings (worker.Warner), then names
// each directory kiln's jobs write to (a plugin's worker.PathOutputDir,
// such as a pipeline's output_dir) that this process
// cannot write, on a read-only mount or outside the unit's sandbox: jobs
// would fail there one by one, so it is said at once. With checkOnly
// (kilnd -check-config, run by an admin outside the unit's sandbox), an
// output directory outside the packaged state directory is named too, with
// the drop-in that allows it.
func pathWarnings(cfg *Config, checkOnly bool) []string {
	var out []string
	for _, pc := range cfg.plugins {
		if w, ok := pc.(worker.Warner); ok {
			out = append(out, w.Warnings(&cfg.view)...)
		}
	}
	for _, p := range cfg.pluginPaths() {
		if p.Use != worker.PathOutputDir {
			continue
		}
		dir, key := p.Path, p.Key
		if err := writable(dir); err != nil {
			out = append(out, fmt.Sprintf("%s: %s: %v: %s will fail until kilnd can write there", key, dir, err, p.For))
			continue
		}
		if checkOnly && cfg.Daemon.StateDir == packagedStateDir && !within(dir, packagedStateDir) {
			out = append(out, fmt.Sprintf("%s: %s is outside %s, which is all that kiln.service lets kilnd write: allow it with a drop-in (systemctl edit kiln) holding [Service] ReadWritePaths=%s", key, dir, packagedStateDir, dir))
		}
	}
	return out
}

// writable reports whether this process may create files in dir, or in its
// nearest existing ancestor when dir does not exist yet (kiln creates it).
func writable(dir string) error {
	for p := dir; ; p = filepath.Dir(p) {
		err := unix.Faccessat(unix.AT_FDCWD, p, unix.W_OK|unix.X_OK, unix.AT_EACCESS)
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) || p == "/" {
			return err
		}
	}
}

func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// fileKind names what a file that should be something else is.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&os.ModeSymlink != 0:
		return "a symlink"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}
