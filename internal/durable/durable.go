// Package durable writes files that survive a crash whole or not at all:
// a temp file in the same directory, fsync, rename, and the directory's
// fsync that makes the rename itself durable.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
)

// TempPattern matches WriteFile's temp files (a glob in their directory),
// so that the leftovers of a writer killed mid-write can be found.
const TempPattern = ".*.tmp*"

// WriteFile makes data appear at path with mode perm, whole or not at all.
// The rename is durable once the directory is synced (SyncDir), which a
// caller writing several files there does once for all of them.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	return nil
}

// ReplaceFile is WriteFile followed by the directory's sync: when it
// returns, a crash leaves the new content.
func ReplaceFile(path string, data []byte, perm os.FileMode) error {
	if err := WriteFile(path, data, perm); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes the entries of dir (new files, renames) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
