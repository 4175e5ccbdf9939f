package daemon

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"

	"kiln/daemon/chartstore"
	"kiln/worker"
)

// namedPath is one file the config makes kiln write or read, with how an
// operator would call it.
type namedPath struct {
	key  string // the config key to report it under
	path string
	name string
}

// writtenPaths are the files and the directory kiln creates, replaces or
// removes, most specific key first: a collision is reported under the
// first of the two.
func (c *Config) writtenPaths() []namedPath {
	d := c.Daemon
	out := []namedPath{
		{"daemon.socket", d.Socket, "daemon.socket"},
		{"daemon.pidfile", d.Pidfile, "daemon.pidfile"},
		{"daemon.state_dir", d.StateDir, "daemon.state_dir"},
		{"daemon.state_dir", c.StateLockPath(), "the state lock (" + stateLockName + " in daemon.state_dir)"},
	}
	if c.keepsCharts() {
		out = append(out, namedPath{"daemon.state_dir", c.ChartsPath(), "the charts (" + chartstore.FileName + " in daemon.state_dir)"})
	}
	if c.Broker.Backend != backendRabbitMQ {
		out = append(out, namedPath{"daemon.state_dir", c.StorePath(), "the queue store (queue.db in daemon.state_dir)"})
	} else {
		out = append(out, namedPath{"daemon.state_dir", c.RecordsPath(), "the job records (" + RecordsFileName + " in daemon.state_dir)"})
	}
	return append(out, c.pluginNamedPaths(worker.PathWritten)...)
}

// pluginNamedPaths are the plugins' paths of one use.
func (c *Config) pluginNamedPaths(use worker.PathUse) []namedPath {
	var out []namedPath
	for _, p := range c.pluginPaths() {
		if p.Use == use && p.Path != "" {
			out = append(out, namedPath{p.Key, p.Path, cmp.Or(p.Name, p.Key)})
		}
	}
	return out
}

// readPaths are the files kiln only reads, the config file and its
// drop-ins among them.
func (c *Config) readPaths() []namedPath {
	var out []namedPath
	add := func(key, path string) {
		if path != "" {
			out = append(out, namedPath{key, path, key})
		}
	}
	// No key names them; a read path is never reported under its own.
	for i, f := range c.files {
		name := "the config file"
		if i > 0 {
			name = "the config drop-in " + f
		}
		out = append(out, namedPath{"", f, name})
	}
	if c.HTTP.Listen != "" {
		add("http.tokens", c.HTTP.Tokens)
		add("http.tls_cert", c.HTTP.TLSCert)
		add("http.tls_key", c.HTTP.TLSKey)
	}
	out = append(out, c.pluginNamedPaths(worker.PathRead)...)
	if c.Broker.Backend == backendRabbitMQ {
		add("broker.password_file", c.Broker.PasswordFile)
		add("broker.tls", c.Broker.TLS.CA)
		add("broker.tls", c.Broker.TLS.Cert)
		add("broker.tls", c.Broker.TLS.Key)
	}
	return out
}

// checkPathCollisions reports each file kiln writes that is also another
// one the config names: a typo there would have kiln replace the queue,
// the config or a secret. It returns the keys it reported.
func (c *Config) checkPathCollisions(report func(key, msg string)) map[string]bool {
	reported := map[string]bool{}
	written := c.writtenPaths()
	others := append(append([]namedPath{}, written...), c.readPaths()...)
	for i, w := range written {
		for j, o := range others {
			if j <= i || (j < len(written) && o.key == w.key) || !samePath(w.path, o.path) {
				continue
			}
			report(w.key, fmt.Sprintf("%s is both %s and %s: give each a path of its own", w.path, w.name, o.name))
			reported[w.key] = true
		}
	}
	return reported
}

// samePath reports whether a and b name one file: the same path, or, when
// both exist, the same inode (a symlink or a hard link to it).
func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(fa, fb)
}
