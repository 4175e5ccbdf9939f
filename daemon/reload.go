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

// keepRestartOnly puts back into next the settings that take effect only at
// a restart (the files the daemon holds open, and where it logs), and
// returns the keys of those the new file changed.
func keepRestartOnly(old, next *Config) []string {
	var changed []string
	keepValue(&changed, "daemon.state_dir", &old.Daemon.StateDir, &next.Daemon.StateDir)
	keepValue(&changed, "daemon.pidfile", &old.Daemon.Pidfile, &next.Daemon.Pidfile)
	keepValue(&changed, "daemon.socket", &old.Daemon.Socket, &next.Daemon.Socket)
	keepValue(&changed, "log.target", &old.Log.Target, &next.Log.Target)
	keepValue(&changed, "log.syslog_facility", &old.Log.SyslogFacility, &next.Log.SyslogFacility)
	keepValue(&changed, "log.syslog_address", &old.Log.SyslogAddress, &next.Log.SyslogAddress)
	keepValue(&changed, "http.listen", &old.HTTP.Listen, &next.HTTP.Listen)
	keepValue(&changed, "http.tls_cert", &old.HTTP.TLSCert, &next.HTTP.TLSCert)
	keepValue(&changed, "http.tls_key", &old.HTTP.TLSKey, &next.HTTP.TLSKey)
	// net/http reads these once per server, when it is made at start.
	keepValue(&changed, "limits.header_timeout", &old.Limits.HeaderTimeout, &next.Limits.HeaderTimeout)
	keepValue(&changed, "limits.idle_timeout", &old.Limits.IdleTimeout, &next.Limits.IdleTimeout)
	// The backend is opened once, with its connections and declarations.
	keepValue(&changed, "broker", &old.Broker, &next.Broker)
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

// keepValue is keepRestartOnly's rule: a change is named and the running
// value put back.
func keepValue[T any](changed *[]string, key string, oldV, nextV *T) {
	if !reflect.DeepEqual(*oldV, *nextV) {
		*changed = append(*changed, key)
		*nextV = *oldV
	}
}
