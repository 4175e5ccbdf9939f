package render

import (
	"fmt"
	"os"
	"path/filepath"

	"kiln/internal/durable"
)

// removeStaleTemps deletes temp files an earlier attempt left when its
// process was killed mid-write. The caller holds the job's lease, so no
// live writer owns them.
func removeStaleTemps(dir string) error {
	stale, err := filepath.Glob(filepath.Join(dir, durable.TempPattern))
	if err != nil {
		return err
	}
	for _, f := range stale {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove leftover %s: %w", f, err)
		}
	}
	return nil
}

// makeDir creates dir and its parents, syncing each new entry's parent so
// that the directory survives a crash along with the files in it.
func makeDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := makeDir(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return durable.SyncDir(parent)
}
