package daemon

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// Only a socket is replaced at the control socket's path, and only one
// nothing listens on.
func TestListenControlReplacesOnlyStaleSockets(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "ks") // unix socket paths are short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	file := filepath.Join(dir, "queue.db")
	if err := os.WriteFile(file, []byte("jobs"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = listenControl(file)
	var notSocket *NotSocketError
	var ee *exitError
	if !errors.As(err, &notSocket) || !errors.As(err, &ee) || ee.code != ExitConfig {
		t.Fatalf("listen on a regular file: err = %v, want a NotSocketError with exit %d", err, ExitConfig)
	}
	if got, _ := os.ReadFile(file); string(got) != "jobs" {
		t.Fatalf("the regular file now holds %q", got)
	}

	path := filepath.Join(dir, "kiln.sock")
	live, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := listenControl(path); err == nil {
		t.Fatal("listen on a socket another listener serves: no error")
	}
	if c, err := net.Dial("unix", path); err != nil {
		t.Fatalf("the live socket was taken away: %v", err)
	} else {
		c.Close()
	}

	// A listener closed without unlinking its file is what a crash leaves.
	live.(*net.UnixListener).SetUnlinkOnClose(false)
	live.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("the stale socket is not there: %v", err)
	}
	ln, err := listenControl(path)
	if err != nil {
		t.Fatalf("a stale socket is not replaced: %v", err)
	}
	ln.Close()
}
