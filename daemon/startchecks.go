package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"kiln/worker"
)

// startChecks checks a parsed config against the machine it is to run on:
// every file it names is what kiln expects there and none is two things at
// once, the secrets load, the listen address can be listened on. A start
// runs them before it touches a file, and -check-config runs the very same
// ones, so that a config it passes does not fail at start (but for a
// machine that changed in between, or a port another process holds).
// Each problem is worded file:line: key: message, as the parse's are; the
// error is a *ConfigError, Transient when every problem may pass by itself.
func startChecks(cfg *Config) (startLoads, error) {
	p := cfg.problems()
	cfg.checkPaths(p.report)
	cfg.Log.checkLogTarget(p.report)
	loads := cfg.checkHTTPListener(p)
	for _, pc := range cfg.plugins {
		if c, ok := pc.(worker.StartChecker); ok {
			c.CheckStart(&cfg.view, p)
		}
	}
	cfg.Broker.checkFiles(p.report)
	return loads, p.err()
}

// reloadChecks are the start checks that still apply to a running
// daemon's new config: the files a reload puts in use at once, the
// plugins' by their Reload. The paths, the listener, its TLS pair and the
// broker are kept until a restart (keepRestartOnly), so they are not
// checked again against the files this daemon holds. It returns the keys
// the plugins kept for a restart.
func (d *daemon) reloadChecks(cfg *Config) ([]string, error) {
	p := cfg.problems()
	kept := d.reloadPlugins(cfg, p)
	return kept, p.err()
}

// checkPaths reports the kiln-written paths that would cost a file: one
// that collides with another named file, a socket path where something
// other than a socket is, a pidfile path holding something other than a
// PID, a directory path that is a file.
func (c *Config) checkPaths(report func(key, msg string)) {
	collided := c.checkPathCollisions(report)
	d := c.Daemon
	checks := []struct {
		key   string
		check func() error
	}{
		{"daemon.socket", func() error { return firstOf(checkDirectoryPath(filepath.Dir(d.Socket)), checkSocketPath(d.Socket)) }},
		{"daemon.pidfile", func() error { return firstOf(checkDirectoryPath(filepath.Dir(d.Pidfile)), checkPidfilePath(d.Pidfile)) }},
		{"daemon.state_dir", func() error { return firstOf(checkDirectoryPath(d.StateDir), checkPidfilePath(c.StateLockPath())) }},
	}
	for _, ch := range checks {
		if collided[ch.key] {
			continue // one message a key: the collision says it all
		}
		if err := ch.check(); err != nil {
			report(ch.key, err.Error())
		}
	}
}

// startLoads are the files the start checks loaded that the start then
// puts in use, so that each is read once and what is used is what was
// checked.
type startLoads struct {
	tokens *tokenSet   // [http] tokens; nil without a TCP listener
	tls    *tls.Config // [http] tls_cert and tls_key; nil without them
}

// checkHTTPListener checks what listenHTTP reads and binds: the tokens file,
// the certificate and key, the address.
func (c *Config) checkHTTPListener(p *configProblems) (loaded startLoads) {
	h := &c.HTTP
	if h.Listen == "" {
		return loaded
	}
	var err error
	if loaded.tokens, err = loadTokens(h.Tokens); err != nil {
		p.report("http.tokens", err.Error())
	}
	if loaded.tls, err = h.loadTLS(); err != nil {
		p.report("http.tls_cert", err.Error())
	}
	if transient, err := checkListenAddr(h.Listen); err != nil {
		p.add("http.listen", err.Error(), transient)
	}
	return loaded
}

// checkDirectoryPath reports a path kiln creates a directory at (or in)
// that is, or lies under, something other than a directory.
func checkDirectoryPath(dir string) error {
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case err == nil && fi.IsDir():
			return nil
		case err == nil:
			return fmt.Errorf("%s is %s, not a directory", p, fileKind(fi.Mode()))
		case !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			return err
		case p == filepath.Dir(p):
			return nil
		}
	}
}

func firstOf(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkStart is the start step of the checks.
func (d *daemon) checkStart() error {
	loads, err := startChecks(d.config())
	if err != nil {
		return &exitError{code: startChecksCode(err), err: err}
	}
	d.startLoads = loads
	return nil
}

// startChecksCode is the exit code of failed start checks, at start and
// from -check-config alike: a config fault is 78, so that the unit does not
// restart into it; faults that may all pass by themselves are a plain
// failure, which a restart may cure.
func startChecksCode(err error) int {
	var cerr *ConfigError
	if errors.As(err, &cerr) && cerr.Transient {
		return ExitFailure
	}
	return ExitConfig
}
