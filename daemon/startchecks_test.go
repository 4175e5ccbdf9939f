package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// startConfig writes a config whose daemon paths are relative to its own
// directory, with extra appended, and loads it.
func startConfig(t *testing.T, daemonTable, extra string) *Config {
	t.Helper()
	path := writeConfig(t, "[daemon]\n"+daemonTable+"\n[log]\ntarget = \"stderr\"\n"+extra)
	cfg, err := LoadConfig(path, testPlugins()...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Every file kiln writes that is also another named file is reported
// under its key, naming the file and what else it is.
func TestStartChecksFindPathCollisions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, daemonTable, extra string
		setup                    func(dir string)
		want                     []string
	}{
		{"SocketIsTheQueue", "state_dir = \"state\"\npidfile = \"run/kilnd.pid\"\nsocket = \"state/queue.db\"\n", "", nil,
			[]string{":4: daemon.socket: DIR/state/queue.db is both daemon.socket and the queue store (queue.db in daemon.state_dir)"}},
		{"PidfileIsTheConfig", "state_dir = \"state\"\npidfile = \"kiln.toml\"\nsocket = \"run/kiln.sock\"\n", "", nil,
			[]string{":3: daemon.pidfile: DIR/kiln.toml is both daemon.pidfile and the config file"}},
		{"SocketIsThePidfile", "state_dir = \"state\"\npidfile = \"run/k\"\nsocket = \"run/k\"\n", "", nil,
			[]string{":4: daemon.socket: DIR/run/k is both daemon.socket and daemon.pidfile"}},
		{"PidfileIsTheStateLock", "state_dir = \"state\"\npidfile = \"state/kilnd.lock\"\nsocket = \"run/kiln.sock\"\n", "", nil,
			[]string{":3: daemon.pidfile: DIR/state/kilnd.lock is both daemon.pidfile and the state lock (kilnd.lock in daemon.state_dir)"}},
		{"SocketLinksToTheSecret", "state_dir = \"state\"\npidfile = \"run/kilnd.pid\"\nsocket = \"link\"\n", "[webhooks]\nsecret_file = \"secret\"\n",
			func(dir string) {
				os.WriteFile(filepath.Join(dir, "secret"), []byte("a-long-enough-webhook-key"), 0o600)
				os.Symlink(filepath.Join(dir, "secret"), filepath.Join(dir, "link"))
			},
			[]string{":4: daemon.socket: DIR/link is both daemon.socket and webhooks.secret_file"}},
		{"StoreIsTheTokens", "state_dir = \"state\"\npidfile = \"run/kilnd.pid\"\nsocket = \"run/kiln.sock\"\n", "[http]\nlisten = \"127.0.0.1:7070\"\ntokens = \"state/queue.db\"\n",
			func(dir string) {
				os.MkdirAll(filepath.Join(dir, "state"), 0o700)
				os.WriteFile(filepath.Join(dir, "state", "queue.db"), []byte("ops admin admin-token-abcdefghijkl\n"), 0o600)
			},
			[]string{":2: daemon.state_dir: DIR/state/queue.db is both the queue store (queue.db in daemon.state_dir) and http.tokens"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, "[daemon]\n"+c.daemonTable+"\n[log]\ntarget = \"stderr\"\n"+c.extra)
			dir := filepath.Dir(path)
			if c.setup != nil {
				c.setup(dir)
			}
			cfg, err := LoadConfig(path, testPlugins()...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = startChecks(cfg)
			var cerr *ConfigError
			if !errors.As(err, &cerr) || cerr.Transient {
				t.Fatalf("startChecks: %v, want a ConfigError", err)
			}
			if len(cerr.Problems) != len(c.want) {
				t.Fatalf("problems:\n%s\nwant %d", err, len(c.want))
			}
			for i, w := range c.want {
				if w = path + strings.ReplaceAll(w, "DIR", dir); !strings.HasPrefix(cerr.Problems[i], w) {
					t.Errorf("problem %q, want it to start %q", cerr.Problems[i], w)
				}
			}
		})
	}
}

// A config whose paths are free, with a stale socket and pidfile left by a
// crash, passes.
func TestStartChecksPassLeftovers(t *testing.T) {
	t.Parallel()
	cfg := startConfig(t, "state_dir = \"state\"\npidfile = \"kilnd.pid\"\nsocket = \"kiln.sock\"\n", "")
	if _, err := startChecks(cfg); err != nil {
		t.Fatalf("fresh paths: %v", err)
	}
	if err := os.WriteFile(cfg.Daemon.Pidfile, []byte("999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.Daemon.StateDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.StorePath(), []byte("a store"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := startChecks(cfg); err != nil {
		t.Fatalf("a stale pidfile and a store: %v", err)
	}
}

// A directory kiln would create under a file is named with that file.
func TestCheckDirectoryPathNamesTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, filepath.Join(file, "state"), filepath.Join(file, "a", "b")} {
		if err := checkDirectoryPath(p); err == nil || err.Error() != file+" is a regular file, not a directory" {
			t.Errorf("%s: err = %v, want it to name %s", p, err, file)
		}
	}
	if err := checkDirectoryPath(filepath.Join(dir, "new", "state")); err != nil {
		t.Errorf("a directory still to create: %v", err)
	}
}

func TestCheckListenAddr(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr string
		want string // "" for none
	}{
		{"127.0.0.1:7070", ""},
		{":7070", ""},
		{"[::1]:7070", ""},
		{"localhost:7070", ""},
		{"127.0.0.1:http", ""},
		{"127.0.0.1:99999", `port "99999" is not between 1 and 65535`},
		{"127.0.0.1:0", `port "0" is not between 1 and 65535`},
		{"127.0.0.1:", `port "" is not between 1 and 65535`},
		{"127.0.0.1:no-such-service", `port "no-such-service" is neither a number nor a known service`},
		{"no-such-host.invalid:7070", "host no-such-host.invalid does not resolve"},
		{"7070", "is not host:port"},
		{"198.51.100.7:7070", "198.51.100.7 is not an address of this host"},
		{"127.0.0.2:7070", ""},
		{"0.0.0.0:7070", ""},
	}
	for _, c := range cases {
		transient, err := checkListenAddr(c.addr)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.addr, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: err = %v, want %q", c.addr, err, c.want)
		case c.want != "" && transient:
			t.Errorf("%s: %v counted as transient", c.addr, err)
		}
	}
}
