package daemon

import (
	"context"
	"fmt"
	"reflect"
)

// reload loads the config file again and swaps the new snapshot in. A file
// with errors is refused, the running config stays, and the error is
// returned for whoever asked (the control socket answers it). Settings that
// only a restart can change are kept as they are and logged as
// "needs restart: KEY".
func (d *daemon) reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.notify.reloading()
	defer func() { d.notify.ready(d.statusLine(context.Background())) }()

	next, err := loadConfig(d.opts, d.plugins)
	if err != nil {
		d.log.Error("reload refused: config is invalid; the running config stays in effect", "err", err)
		return err
	}
	old := d.config()
	// The TCP listener stays, whatever the new file says of it, until a
	// restart: its tokens file must be good before anything of the new
	// config is swapped in, or the reload fails whole. Swapping the rest
	// and keeping the old tokens would leave a revoked token working while
	// the reload reports success.
	var tokens *tokenSet
	if d.http != nil {
		if tokens, err = loadReloadTokens(next.HTTP.Tokens); err != nil {
			d.log.Error("reload refused: tokens file refused; the running config and tokens stay in effect", "err", err)
			return err
		}
	}
	restartOnly := keepRestartOnly(old, next)
	kept, err := d.reloadChecks(next)
	if err != nil {
		d.log.Error("reload refused: a file the config names is refused; the running config stays in effect", "err", err)
		return err
	}
	restartOnly = append(restartOnly, kept...)
	for _, key := range restartOnly {
		d.log.Warn("needs restart: "+key, "key", key)
	}
	if err := d.logging.SetLevel(next.Log.Level); err != nil {
		// validate has checked the level: this cannot be the file's fault.
		return fmt.Errorf("reload: set log level: %w", err)
	}
	d.cfg.Store(next)
	// The parts that act on a change, rather than read the config at their
	// next step, are told now.
	d.pool.ConfigChanged()
	d.pluginsReloaded()
	d.schedules.apply(next)
	if d.http != nil {
		// New tokens apply at once, and what the old ones allowed that
		// the new ones do not ends.
		d.http.swapTokens(tokens)
	}
	for _, w := range pathWarnings(next, false) {
		d.log.Warn(w)
	}
	d.log.Info("reloaded", append(append([]any{"config", next.Source, "drop_ins", next.dropInList(), "queues", len(next.Queues)}, next.nameCounts()...), "level", next.Log.Level)...)
	return nil
}

// restartOnly are the settings that take effect only at a restart: the
// files the daemon holds open, where it logs, its TCP listener and its
// queue backend. A reload keeps their running values and names each one
// it changed. docs/operating.md lists them for operators, and a test holds
// that list to this one.
var restartOnly = []restartOnlySetting{
	{"daemon.state_dir", func(old, next *Config) bool { return keepValue(&old.Daemon.StateDir, &next.Daemon.StateDir) }},
	{"daemon.pidfile", func(old, next *Config) bool { return keepValue(&old.Daemon.Pidfile, &next.Daemon.Pidfile) }},
	{"daemon.socket", func(old, next *Config) bool { return keepValue(&old.Daemon.Socket, &next.Daemon.Socket) }},
	{"log.target", func(old, next *Config) bool { return keepValue(&old.Log.Target, &next.Log.Target) }},
	{"log.syslog_facility", func(old, next *Config) bool { return keepValue(&old.Log.SyslogFacility, &next.Log.SyslogFacility) }},
	{"log.syslog_address", func(old, next *Config) bool { return keepValue(&old.Log.SyslogAddress, &next.Log.SyslogAddress) }},
	{"http.listen", func(old, next *Config) bool { return keepValue(&old.HTTP.Listen, &next.HTTP.Listen) }},
	{"http.tls_cert", func(old, next *Config) bool { return keepValue(&old.HTTP.TLSCert, &next.HTTP.TLSCert) }},
	{"http.tls_key", func(old, next *Config) bool { return keepValue(&old.HTTP.TLSKey, &next.HTTP.TLSKey) }},
	// net/http reads these once per server, when it is made at start.
	{"limits.header_timeout", func(old, next *Config) bool { return keepValue(&old.Limits.HeaderTimeout, &next.Limits.HeaderTimeout) }},
	{"limits.idle_timeout", func(old, next *Config) bool { return keepValue(&old.Limits.IdleTimeout, &next.Limits.IdleTimeout) }},
	// The backend is opened once, with its connections and declarations.
	{"broker", func(old, next *Config) bool { return keepValue(&old.Broker, &next.Broker) }},
}

// restartOnlySetting is one setting of restartOnly: its key as the log
// names it, and keep, which puts the running value back into next and
// reports whether next had changed it.
type restartOnlySetting struct {
	key  string
	keep func(old, next *Config) bool
}

// keepRestartOnly puts back into next the settings that take effect only at
// a restart (restartOnly), and returns the keys of those the new file
// changed.
func keepRestartOnly(old, next *Config) []string {
	var changed []string
	for _, s := range restartOnly {
		if s.keep(old, next) {
			changed = append(changed, s.key)
		}
	}
	next.view.StateDir = next.Daemon.StateDir
	return changed
}

// loadReloadTokens reads the tokens file a reloaded config names.
func loadReloadTokens(path string) (*tokenSet, error) {
	if path == "" {
		return nil, fmt.Errorf("http.tokens: must name the tokens file: the TCP listener stays open until a restart")
	}
	set, err := loadTokens(path)
	if err != nil {
		return nil, fmt.Errorf("http.tokens: %w", err)
	}
	return set, nil
}

// keepValue is restartOnly's rule: a changed value is put back to the
// running one, and the change reported.
func keepValue[T any](oldV, nextV *T) bool {
	if reflect.DeepEqual(*oldV, *nextV) {
		return false
	}
	*nextV = *oldV
	return true
}
