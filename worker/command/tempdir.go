package command

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// fileSafe is s as a part of a file name: a job published over AMQP
// brings an ID of its own, which may hold anything.
func fileSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
	return s[:min(len(s), 64)]
}

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
