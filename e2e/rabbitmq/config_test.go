package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/internal/rabbitnode"
	"kiln/worker/image/imageapi"
)

// Bad broker settings give clear messages and no crash loop: kilnd runs,
// says why in its status, and refuses submits at once.
func TestBadBrokerSettings(t *testing.T) {
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	if _, err := node.Ctl("add_vhost", "locked"); err != nil {
		t.Fatal(err)
	}
	closedPort, err := rabbitnode.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  hostConfig
		want string
	}{
		{"WrongPassword", hostConfig{urls: []string{brokerURL(node, "")}, password: "not-the-password"}, "refused the login"},
		{"Unreachable", hostConfig{urls: []string{fmt.Sprintf("amqp://guest@127.0.0.1:%d/", closedPort)}}, "connection refused"},
		// The broker's own words, quoted.
		{"VhostRefused", hostConfig{urls: []string{brokerURL(node, "locked")}}, `access to vhost 'locked' refused for user 'guest'`},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.prefix = uniquePrefix(t)
			h := startHost(t, "a", pics, c.cfg)
			pid := h.pid()
			waitFor(t, time.Minute, "status naming the problem", func() (string, bool) {
				out, _ := h.kilnctl("status")
				return out, strings.Contains(out, "broker unreachable") && strings.Contains(out, c.want)
			})
			t0 := time.Now()
			_, err := h.client().Submit(context.Background(), imageapi.Request("web", filepath.Join(pics, "p.jpg")))
			if err == nil || !strings.Contains(err.Error(), "unavailable") {
				t.Errorf("submit without a broker: %v, want unavailable", err)
			}
			if took := time.Since(t0); took > 2*time.Second {
				t.Errorf("a submit without a broker took %s to be refused", took)
			}
			// Still the same process after several reconnect attempts.
			waitFor(t, time.Minute, "reconnect attempts logged", func() (string, bool) {
				return "", strings.Count(h.stderr.String(), "broker unreachable") >= 1
			})
			if !h.alive() || h.pid() != pid {
				t.Error("kilnd exited")
			}
		})
	}

	t.Run("WorldReadablePasswordFile", func(t *testing.T) {
		h := writeHostConfig(t, "a", pics, hostConfig{urls: []string{brokerURL(node, "")}, prefix: uniquePrefix(t)})
		pw := filepath.Join(h.dir, "broker.password")
		os.Chmod(pw, 0o644)
		out, err := exec.Command(filepath.Join(binDir, "kilnd"), "-config", h.config).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 78 {
			t.Fatalf("kilnd with a world-readable password file: %v, want exit 78\n%s", err, out)
		}
		want := fmt.Sprintf("broker.password_file: %s is readable by others", pw)
		if !strings.Contains(string(out), want) || !strings.Contains(string(out), h.config+":") {
			t.Errorf("message %q does not name the file and key (want %q)", out, want)
		}
	})

	t.Run("BadURLs", func(t *testing.T) {
		h := writeHostConfig(t, "a", pics, hostConfig{urls: []string{"http://mq1/images", "amqp://kiln:secret@mq1/images", "amqp:///images"}, prefix: uniquePrefix(t)})
		out, err := exec.Command(filepath.Join(binDir, "kilnd"), "-config", h.config, "-check-config").CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 78 {
			t.Fatalf("check-config: %v, want exit 78\n%s", err, out)
		}
		for _, want := range []string{"broker.urls[0]: \"http://mq1/images\": the scheme must be amqp or amqps",
			"broker.urls[1]: has a password in it", "broker.urls[2]: \"amqp:///images\" has no host"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("check-config output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(string(out), "secret") {
			t.Errorf("check-config printed the password:\n%s", out)
		}
	})
}
