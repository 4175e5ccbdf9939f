package daemon

import (
	"errors"
	"strings"
	"testing"

	"kiln/worker/webhook"
)

// The [http], [events] and [webhooks] tables and notify_url go through the
// same decoder: every problem reported with its file, line and key.
func TestControlPlaneConfigErrors(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `[queues.q]
notify_url = "ftp://example.com/x"

[events]
keep = "0s"
max = 0

[http]
listen = "no-port-here"
tls_cert = "/etc/kiln/cert.pem"
tokens = ""
`)
	_, err := LoadConfig(path, testPlugins()...)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("LoadConfig = %v, want a ConfigError", err)
	}
	for _, want := range []string{
		path + `:2: queues.q.notify_url: "ftp://example.com/x" is not an absolute http or https URL`,
		path + `:6: events.max: keep and max cannot both be 0`,
		path + `:9: http.listen: "no-port-here" is not host:port`,
		path + `:10: http.tls_cert: tls_cert and tls_key go together`,
		path + `:11: http.tokens: must name the tokens file`,
		path + `: webhooks.secret_file: must be set when a queue or pipeline has a notify_url`,
	} {
		found := false
		for _, p := range ce.Problems {
			if strings.HasPrefix(p, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem starts with %q; got:\n%s", want, strings.Join(ce.Problems, "\n"))
		}
	}
}

// A notify_url brings the _webhooks queue with it, with more attempts than
// a job queue has by default; a config without one has no such queue.
func TestNotifyURLAddsTheWebhooksQueue(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(writeConfig(t, "[queues.q]\nnotify_url = \"https://app.example/hook\"\n[webhooks]\nsecret_file = \"/etc/kiln/webhook.secret\"\n"), testPlugins()...)
	if err != nil {
		t.Fatal(err)
	}
	if q, ok := cfg.Queues[webhook.Queue]; !ok || q.MaxAttempts != webhook.Attempts {
		t.Fatalf("queue %s = %+v, %v", webhook.Queue, q, ok)
	}
	cfg, err = LoadConfig(writeConfig(t, "[queues.q]\n"), testPlugins()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Queues[webhook.Queue]; ok {
		t.Fatal("a config without notify_url has a _webhooks queue")
	}
}
