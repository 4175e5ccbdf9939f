package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The config is the main file and the drop-ins of the conf.d directory
// next to it, as Debian packages and systemd arrange theirs: a package, a
// configuration manager or an operator adds a file of its own instead of
// editing the one the package ships, and an upgrade never has to ask which
// kiln.toml to keep.

// DropInDirName is the directory of drop-ins, next to the main file.
const DropInDirName = "conf.d"

// DropInDir is where the drop-ins of the main file at path are.
func DropInDir(path string) string { return filepath.Join(filepath.Dir(path), DropInDirName) }

// configFile is one file of the config, as read.
type configFile struct {
	// name is how messages name the file: the main file's path as given,
	// a drop-in's under the same directory.
	name string
	// path is name made absolute; "" for the embedded dev config.
	path string
	data []byte
}

// configFiles are the files a config is read from, in the order they are
// merged, and the names in conf.d that were left out.
type configFiles struct {
	files   []configFile
	ignored []string
}

// readConfigFiles reads the main file and every drop-in of its conf.d, in
// the byte order of their names. A conf.d that does not exist is no
// drop-ins; one that cannot be read, and a drop-in that cannot, are each
// a problem naming it, all of them reported at once.
func readConfigFiles(path string) (*configFiles, error) {
	var problems []string
	out := &configFiles{}
	read := func(name string) {
		data, err := os.ReadFile(name)
		if err != nil {
			problems = append(problems, fileProblem(name, err))
			return
		}
		abs, err := filepath.Abs(name)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			return
		}
		out.files = append(out.files, configFile{name: name, path: abs, data: data})
	}
	read(path)
	dir := DropInDir(path)
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		problems = append(problems, dropInDirProblem(dir, err))
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// Byte order, as systemd and sudoers take theirs: 10-x before 9-y,
	// and "Z" before "a", whatever the locale.
	slices.Sort(names)
	for _, n := range names {
		if !IsDropInName(n) {
			out.ignored = append(out.ignored, n)
			continue
		}
		read(filepath.Join(dir, n))
	}
	if len(problems) > 0 {
		return nil, &ConfigError{Problems: problems}
	}
	return out, nil
}

// fileProblem words a file that cannot be read as NAME: OPERATION: why,
// naming the file once.
func fileProblem(name string, err error) string {
	var perr *fs.PathError
	if errors.As(err, &perr) {
		return fmt.Sprintf("%s: %s: %v", name, perr.Op, perr.Err)
	}
	return fmt.Sprintf("%s: %v", name, err)
}

// dropInDirProblem words a conf.d that is not a directory as such, rather
// than as the "not a directory" of a read of it.
func dropInDirProblem(dir string, err error) string {
	if fi, serr := os.Stat(dir); serr == nil && !fi.IsDir() {
		return fmt.Sprintf("%s: is %s, not a directory of drop-ins", dir, fileKind(fi.Mode()))
	}
	return fileProblem(dir, err)
}

// IsDropInName reports whether a file of conf.d is read: a name that ends
// in ".toml" and does not start with a dot. That leaves out what editors
// and package managers leave beside a file (x.toml~, .x.toml.swp, .#x.toml,
// #x.toml#, x.toml.dpkg-old, -dist and -new, x.toml.ucf-old, -dist and
// -new, x.toml.rpmnew and .rpmsave), which must not come back to life as
// config, and a README.
func IsDropInName(name string) bool {
	return strings.HasSuffix(name, ".toml") && !strings.HasPrefix(name, ".")
}

// dropInList names the drop-ins read, for the log of a start and a reload:
// which of them are in effect is the first thing to know of a host.
func (c *Config) dropInList() string {
	var names []string
	for _, f := range c.files[min(1, len(c.files)):] {
		names = append(names, filepath.Base(f))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}
