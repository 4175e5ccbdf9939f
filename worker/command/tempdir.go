package command

import (
	"io/fs"
	"os"
	"path/filepath"
)

// removeTemp removes a run's temporary directory, even where the program
// took away the permissions that removing needs.
func removeTemp(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(path, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
