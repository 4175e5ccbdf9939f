package renderjob

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"kiln/kilntype"
)

// InputLimits are checked before a picture is decoded.
type InputLimits struct {
	MaxInputBytes         kilntype.ByteSize `toml:"max_input_bytes" json:"max_input_bytes"`
	MaxPixels             int64             `toml:"max_pixels" json:"max_pixels"`
	AllowedInputRoots     []string          `toml:"allowed_input_roots" json:"allowed_input_roots"`
	AllowUntrustedLoaders bool              `toml:"allow_untrusted_loaders" json:"allow_untrusted_loaders"`
}

// ErrInputRefused marks an input refused by a limit: never worth a retry.
var ErrInputRefused = errors.New("input refused")

// CheckInput resolves an input path and checks it against the limits,
// before a byte of it is decoded. It returns the real path to read.
//
// A path outside allowed_input_roots is refused before the file is looked
// at, with the same words whether it exists, cannot be read, is not a
// picture or is missing: a submitter learns nothing about the files
// outside the roots. Inside them, the answer may say why a file will not
// do.
func (l InputLimits) CheckInput(input string) (string, error) {
	refuse := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%w: %s", ErrInputRefused, fmt.Sprintf(format, args...))
	}
	if !filepath.IsAbs(input) {
		return refuse("%q must be an absolute path", input)
	}
	for _, part := range strings.Split(input, "/") {
		if part == ".." {
			return refuse("%q contains \"..\"", input)
		}
	}
	roots := l.resolvedRoots()
	if !underAny(filepath.Clean(input), roots) {
		return refuse("%s is outside allowed_input_roots %v", input, l.AllowedInputRoots)
	}
	real, err := filepath.EvalSymlinks(input)
	if err != nil {
		return refuse("%s: %v", input, unwrapPathError(err))
	}
	if !underAny(real, roots) {
		return refuse("%s resolves to %s, outside allowed_input_roots %v", input, real, l.AllowedInputRoots)
	}
	st, err := os.Stat(real)
	if err != nil {
		return refuse("%s: %v", input, unwrapPathError(err))
	}
	if !st.Mode().IsRegular() {
		return refuse("%s is not a regular file", input)
	}
	if l.MaxInputBytes > 0 && st.Size() > int64(l.MaxInputBytes) {
		return refuse("%s is %d bytes, over max_input_bytes (%s)", input, st.Size(), l.MaxInputBytes)
	}
	return real, nil
}

// resolvedRoots lists each allowed root as written and, when it differs,
// as its symlinks resolve: a path may name a root either way. A root that
// does not exist (yet) counts as written.
func (l InputLimits) resolvedRoots() []string {
	roots := make([]string, 0, 2*len(l.AllowedInputRoots))
	for _, root := range l.AllowedInputRoots {
		root = filepath.Clean(root)
		roots = append(roots, root)
		if r, err := filepath.EvalSymlinks(root); err == nil && r != root {
			roots = append(roots, r)
		}
	}
	return roots
}

// underAny reports whether the clean absolute path is one of roots or lies
// beneath one. No roots allow nothing.
func underAny(path string, roots []string) bool {
	for _, root := range roots {
		if root == "/" || path == root || strings.HasPrefix(path, root+"/") {
			return true
		}
	}
	return false
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
