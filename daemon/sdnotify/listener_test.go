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
