package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func send(t *testing.T, path, msg string) {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func TestWaitReady(t *testing.T) {
	t.Parallel()
	l, err := Listen(filepath.Join(t.TempDir(), "notify"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	path := strings.TrimPrefix(l.Env(), "NOTIFY_SOCKET=")
	send(t, path, "STATUS=opening queue")
	send(t, path, "READY=1\nSTATUS=0 running")
	if err := l.WaitReady(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	send(t, path, "STATUS=cannot open queue: disk on fire")
	err = l.WaitReady(50 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v, want the last status", err)
	}
}

// After Expire, a wait reads what is queued (the daemon's last words) and
// then gives up, even if it began after Expire.
func TestExpire(t *testing.T) {
	t.Parallel()
	l, err := Listen(filepath.Join(t.TempDir(), "notify"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	send(t, strings.TrimPrefix(l.Env(), "NOTIFY_SOCKET="), "STATUS=config error at line 3")
	l.Expire(50 * time.Millisecond)
	start := time.Now()
	if err := l.WaitReady(time.Minute); err == nil {
		t.Fatal("WaitReady succeeded without READY=1")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("WaitReady outlasted Expire")
	}
	if l.Status() != "config error at line 3" {
		t.Fatalf("status %q", l.Status())
	}
}
