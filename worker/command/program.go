package command

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// CheckProgram reports why path cannot be run as a command: not absolute,
// missing, not a regular file, not executable by the daemon's user, or a
// script whose interpreter is any of those. A command that could never
// start is a config error, found before any job is accepted, rather than a
// failure of every one of its jobs.
func CheckProgram(path string) error {
	if err := checkExecutable(path); err != nil {
		return err
	}
	interp, err := interpreter(path)
	if err != nil {
		return err
	}
	if interp != "" {
		if err := checkExecutable(interp); err != nil {
			return fmt.Errorf("%s: its interpreter: %w", path, err)
		}
	}
	return nil
}

func checkExecutable(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%q must be an absolute path (programs are never looked up in PATH)", path)
	}
	st, err := os.Stat(path)
	if err != nil {
		var perr *fs.PathError
		if errors.As(err, &perr) {
			err = perr.Err
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: is not a regular file", path)
	}
	if err := unix.Access(path, unix.X_OK); err != nil || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s: is not executable by this user (mode %v)", path, st.Mode().Perm())
	}
	return nil
}

// interpreter returns the program a "#!" script names, "" for anything
// else. Like the kernel, it reads only the first 256 bytes.
func interpreter(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if !bytes.HasPrefix(head, []byte("#!")) {
		return "", nil
	}
	line, _, _ := bytes.Cut(head[2:], []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) == 0 {
		return "", fmt.Errorf("%s: its #! line names no interpreter", path)
	}
	return fields[0], nil
}

func isDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		var perr *fs.PathError
		if errors.As(err, &perr) {
			err = perr.Err
		}
		return fmt.Errorf("%s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: is not a directory", dir)
	}
	return nil
}
