package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every fault a start refuses, -check-config refuses too: both exit 78,
// with the same words, naming the key and the file. None of these needs a
// restart to be cured, so none may be exit 1, which the unit restarts.
func TestCheckConfigRefusesWhatStartRefuses(t *testing.T) {
	t.Parallel()
	const token = "admin-token-abcdefghijkl"
	cases := []struct {
		name string
		// setup writes the files of the case and returns the config text
		// to append, and what the message must hold.
		setup func(t *testing.T, e *env) (extra string, want []string)
	}{
		{"TokensMissing", func(t *testing.T, e *env) (string, []string) {
			missing := filepath.Join(e.dir, "no-tokens")
			return httpTable(freeAddr(t), missing, ""), []string{"http.tokens: ", missing, "no such file"}
		}},
		{"TokensUnparsable", func(t *testing.T, e *env) (string, []string) {
			tokens := e.writeTokens(t, tokenLine{"ops", "admin", token})
			writeFile(t, tokens, "ops admin\n", 0o600)
			return httpTable(freeAddr(t), tokens, ""), []string{"http.tokens: ", tokens + ":1: expected NAME SCOPES TOKEN"}
		}},
		{"TokensReadableByOthers", func(t *testing.T, e *env) (string, []string) {
			tokens := e.writeTokens(t, tokenLine{"ops", "admin", token})
			chmod(t, tokens, 0o644)
			return httpTable(freeAddr(t), tokens, ""), []string{"http.tokens: ", tokens, "lets others read it"}
		}},
		{"TLSCertificateMissing", func(t *testing.T, e *env) (string, []string) {
			tokens := e.writeTokens(t, tokenLine{"ops", "admin", token})
			_, _, key := makeTestCA(t, e.dir)
			cert := filepath.Join(e.dir, "missing.pem")
			return httpTable(freeAddr(t), tokens, tlsKeys(cert, key)), []string{"http.tls_cert: ", cert, "no such file"}
		}},
		{"TLSCertificateAndKeySwapped", func(t *testing.T, e *env) (string, []string) {
			tokens := e.writeTokens(t, tokenLine{"ops", "admin", token})
			_, cert, key := makeTestCA(t, e.dir)
			return httpTable(freeAddr(t), tokens, tlsKeys(key, cert)), []string{"http.tls_cert: ", key, "switched"}
		}},
		{"ListenPortOutOfRange", func(t *testing.T, e *env) (string, []string) {
			tokens := e.writeTokens(t, tokenLine{"ops", "admin", token})
			return httpTable("127.0.0.1:99999", tokens, ""), []string{"http.listen: ", "port \"99999\" is not between 1 and 65535"}
		}},
		{"ListenHostUnresolvable", func(t *testing.T, e *env) (string, []string) {
			tokens := e.writeTokens(t, tokenLine{"ops", "admin", token})
			return httpTable("no-such-host.invalid:7070", tokens, ""), []string{"http.listen: ", "host no-such-host.invalid does not resolve"}
		}},
		{"ListenAddressNotOfThisHost", func(t *testing.T, e *env) (string, []string) {
			tokens := e.writeTokens(t, tokenLine{"ops", "admin", token})
			return httpTable("198.51.100.7:7070", tokens, ""), []string{"http.listen: ", "198.51.100.7 is not an address of this host"}
		}},
		{"WebhookSecretMissing", func(t *testing.T, e *env) (string, []string) {
			secret := filepath.Join(e.dir, "no-secret")
			return webhookTables(secret), []string{"webhooks.secret_file: ", secret, "no such file"}
		}},
		{"WebhookSecretTooShort", func(t *testing.T, e *env) (string, []string) {
			secret := filepath.Join(e.dir, "secret")
			writeFile(t, secret, "short\n", 0o600)
			return webhookTables(secret), []string{"webhooks.secret_file: ", secret, "shorter than 16 bytes"}
		}},
		{"WebhookSecretReadableByOthers", func(t *testing.T, e *env) (string, []string) {
			secret := filepath.Join(e.dir, "secret")
			writeFile(t, secret, "a-long-enough-webhook-key\n", 0o644)
			return webhookTables(secret), []string{"webhooks.secret_file: ", secret, "lets others read it"}
		}},
		{"BrokerPasswordReadableByOthers", func(t *testing.T, e *env) (string, []string) {
			pw := filepath.Join(e.dir, "broker.password")
			writeFile(t, pw, "guest\n", 0o644)
			return "\n[broker]\nbackend = \"rabbitmq\"\nurls = [\"amqp://kiln@127.0.0.1:1/\"]\npassword_file = \"" + pw + "\"\n",
				[]string{"broker.password_file: ", pw, "readable by others"}
		}},
		{"SocketIsARegularFile", func(t *testing.T, e *env) (string, []string) {
			writeFile(t, e.socket, "", 0o644)
			return "", []string{"daemon.socket: ", e.socket, "is a regular file, not a socket"}
		}},
		{"StateDirIsAFile", func(t *testing.T, e *env) (string, []string) {
			writeFile(t, e.state, "not a directory\n", 0o644)
			return "", []string{"daemon.state_dir: ", e.state, "not a directory"}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			extra, want := c.setup(t, e)
			e.writeConfig(t, e.configText("", extra))

			checked, code := runKilnd(t, "-check-config", "-config", e.config)
			if code != 78 {
				t.Fatalf("-check-config: exit %d, want 78; output:\n%s", code, checked)
			}
			lines := strings.Split(strings.TrimSpace(checked), "\n")
			for _, w := range want {
				if !strings.Contains(checked, w) {
					t.Errorf("-check-config output lacks %q:\n%s", w, checked)
				}
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, e.config+":") {
					t.Errorf("-check-config line does not name the config file: %q", l)
				}
			}

			started, code := runKilnd(t, "-config", e.config)
			if code != 78 {
				t.Fatalf("start: exit %d, want 78; output:\n%s", code, started)
			}
			for _, l := range lines {
				if !strings.Contains(started, l) {
					t.Errorf("start did not say what -check-config said: %q\nstart said:\n%s", l, started)
				}
			}
		})
	}
}

func tlsKeys(cert, key string) string {
	return "tls_cert = \"" + cert + "\"\ntls_key = \"" + key + "\"\n"
}

// webhookTables announces the jobs of a queue to a receiver nobody runs:
// the check is of the secret, not of deliveries.
func webhookTables(secret string) string {
	return "\n[queues.announced]\nnotify_url = \"http://127.0.0.1:9/hook\"\n\n[webhooks]\nsecret_file = \"" + secret + "\"\n"
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	chmod(t, path, mode) // past the umask
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// A reload meets the same checks for the files it puts in use at once: a
// webhook secret that a start would refuse fails the reload, which names
// it, and the running config stays.
func TestReloadRefusesWhatStartRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := filepath.Join(e.dir, "secret")
	writeFile(t, good, "a-long-enough-webhook-key\n", 0o600)
	e.writeConfig(t, e.configText("", webhookTables(good)))
	d := e.start(t)

	short := filepath.Join(e.dir, "short.secret")
	writeFile(t, short, "short\n", 0o600)
	e.writeConfig(t, e.configText("", webhookTables(short)+"\n[queues.added]\n"))
	r := e.kilnctl(t, "reload")
	if r.code == 0 {
		t.Fatalf("kilnctl reload with a 6-byte secret: exit 0\n%s%s", r.stdout, r.stderr)
	}
	for _, w := range []string{"webhooks.secret_file: ", short, "shorter than 16 bytes"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("kilnctl reload's error lacks %q:\n%s", w, r.stderr)
		}
	}
	st := e.kilnctl(t, "status")
	if st.code != 0 || strings.Contains(st.stdout, "added") {
		t.Errorf("the refused config was applied (or status failed, exit %d):\n%s%s", st.code, st.stdout, st.stderr)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("kilnd exit %d after the refused reload, want 0", code)
	}
}

// A log target the file names is checked as a start meets it: a syslog
// daemon that does not answer at syslog_address is refused by
// -check-config too, both exit 78 with the same words.
func TestCheckConfigRefusesAnUnreachableSyslog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gone := filepath.Join(e.dir, "no-syslog.sock")
	e.writeConfig(t, e.configText("[log]\ntarget = \"syslog\"\nsyslog_address = \"unixgram://"+gone+"\"\n", ""))
	want := "log target syslog: connect to " + gone

	checked, code := runKilnd(t, "-check-config", "-config", e.config)
	if code != 78 || !strings.Contains(checked, "log.target: "+want) {
		t.Errorf("-check-config: exit %d, want 78 naming log.target and %q:\n%s", code, want, checked)
	}
	started, code := runKilnd(t, "-config", e.config)
	if code != 78 || !strings.Contains(started, want) {
		t.Errorf("start: exit %d, want 78 with %q:\n%s", code, want, started)
	}
}
