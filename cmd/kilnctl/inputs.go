package main

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// pictureExtensions are the file names a directory walk submits: the
// formats kiln reads. A file named on the command line or on stdin is
// submitted whatever its name, and the daemon judges it.
var pictureExtensions = map[string]bool{
	".jpg": true, ".jpeg": true, ".png": true, ".webp": true, ".gif": true,
	".tif": true, ".tiff": true, ".heic": true, ".heif": true, ".avif": true,
}

// expandInputs turns submit's arguments into absolute picture paths: a
// file as is, a directory walked recursively for pictures, "-" the paths
// on stdin, one per line.
func expandInputs(args []string, stdin io.Reader) ([]string, error) {
	var out []string
	for _, arg := range args {
		if arg == "-" {
			sc := bufio.NewScanner(stdin)
			sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				if line == "" {
					continue
				}
				abs, err := filepath.Abs(line)
				if err != nil {
					return nil, err
				}
				out = append(out, abs)
			}
			if err := sc.Err(); err != nil {
				return nil, fmt.Errorf("read paths from stdin: %w", err)
			}
			continue
		}
		st, err := os.Stat(arg)
		if err != nil || !st.IsDir() {
			// A file, or a path the daemon will say is missing.
			out = append(out, arg)
			continue
		}
		err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("walk %s: %w", arg, err)
			}
			if d.Type().IsRegular() && pictureExtensions[strings.ToLower(filepath.Ext(path))] {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
