package webhook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kiln/worker"
)

type problemList []string

func (p *problemList) Report(key, msg string)          { *p = append(*p, key+": "+msg) }
func (p *problemList) ReportTransient(key, msg string) { p.Report(key, msg) }

func view(local bool, urls ...worker.NotifyURL) *worker.ConfigView {
	return &worker.ConfigView{
		ConfigDir: "/etc/kiln", StateDir: "/var/lib/kiln", DefaultQueue: "default", Shared: !local,
		Queues: map[string]worker.QueueConfig{"default": worker.DefaultQueueConfig()}, NotifyURLs: urls,
	}
}

// A notify_url anywhere brings the _webhooks queue, with more attempts
// than a job queue has by default; without one there is no such queue.
func TestConfigAddsTheQueueANotifyURLNeeds(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	if q := c.AddQueues(view(true)); q != nil {
		t.Errorf("AddQueues without a notify_url = %v, want none", q)
	}
	q := c.AddQueues(view(true, worker.NotifyURL{Key: "pipelines.web.notify_url", URL: "https://app.example/"}))
	if len(q) != 1 || q[Queue].MaxAttempts != Attempts {
		t.Errorf("AddQueues = %+v, want %s with %d attempts", q, Queue, Attempts)
	}
}

// Check words every notify_url's problem under its own key, wherever it is
// set, and the secret a notify_url needs.
func TestConfigCheckNamesEveryNotifyURL(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	c.Webhooks.Timeout = -1
	v := view(true,
		worker.NotifyURL{Key: "pipelines.web.notify_url", URL: "ftp://example.com/x"},
		worker.NotifyURL{Key: "queues.q.notify_url", URL: "https://app.example/"})
	var problems problemList
	c.Check(v, &problems)
	want := []string{
		`pipelines.web.notify_url: "ftp://example.com/x" is not an absolute http or https URL`,
		"webhooks.secret_file: must be set when a queue or pipeline has a notify_url: deliveries are signed with its key",
		"webhooks.timeout: must not be negative",
	}
	if strings.Join(problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}

	// A shared queue has webhooks too.
	c = DefaultConfig()
	c.Webhooks.SecretFile = "/etc/kiln/webhook.secret"
	problems = nil
	c.Check(view(false, worker.NotifyURL{Key: "queues.q.notify_url", URL: "https://app.example/"}), &problems)
	if len(problems) != 0 {
		t.Errorf("problems on a shared queue: %q", problems)
	}
}

// The secret is taken from the config's directory and checked at start;
// the cursor is a file kiln writes only where the queue is its own.
func TestConfigSecretAndCursor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := DefaultConfig()
	c.Webhooks.SecretFile = "webhook.secret"
	c.Fill(&worker.ConfigView{ConfigDir: dir})
	secret := filepath.Join(dir, "webhook.secret")
	if c.Webhooks.SecretFile != secret {
		t.Fatalf("secret_file = %q, want %q", c.Webhooks.SecretFile, secret)
	}
	var problems problemList
	c.CheckStart(nil, &problems)
	if len(problems) != 1 || !strings.HasPrefix(problems[0], "webhooks.secret_file: ") {
		t.Errorf("start check of a missing secret: %q", problems)
	}
	if err := os.WriteFile(secret, []byte(strings.Repeat("k", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	problems = nil
	c.CheckStart(nil, &problems)
	if len(problems) != 0 {
		t.Errorf("start check of a good secret: %q", problems)
	}

	paths := c.Paths(view(true))
	if len(paths) != 2 || paths[0].Path != "/var/lib/kiln/"+CursorName || paths[0].Use != worker.PathWritten || paths[1].Path != secret || paths[1].Use != worker.PathRead {
		t.Errorf("Paths on a queue of its own = %+v", paths)
	}
	if paths := c.Paths(view(false)); len(paths) != 1 || paths[0].Use != worker.PathRead {
		t.Errorf("Paths on a shared queue = %+v, want only the secret", paths)
	}
}
