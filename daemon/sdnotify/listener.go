// Package sdnotify is the service manager's side of sd_notify(3): a socket
// to hand a daemon in NOTIFY_SOCKET, and a wait for its READY=1. kilnd's
// -daemon parent waits for its child with it, and the crash test and the
// benchmarks start kilnd with it, as systemd would.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// Listener receives a daemon's notifications.
type Listener struct {
	path string
	conn *net.UnixConn

	mu     sync.Mutex
	status string
	expire time.Time // set by Expire; no wait outlasts it
}

// Listen opens a notification socket at path (removing a stale one).
func Listen(path string) (*Listener, error) {
	os.Remove(path)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("listen for notifications on %s: %w", path, err)
	}
	return &Listener{path: path, conn: conn}, nil
}

// Env is the environment entry that points a daemon at this listener.
func (l *Listener) Env() string { return "NOTIFY_SOCKET=" + l.path }

// WaitReady reads notifications until READY=1, or fails after timeout with
// the last STATUS= the daemon sent (its reason, when it is failing).
func (l *Listener) WaitReady(timeout time.Duration) error {
	_, err := l.WaitFor("READY=1", timeout)
	return err
}

// WaitFor reads notifications until one holds line (such as "RELOADING=1")
// and returns that whole message, or fails after timeout with the last
// STATUS= the daemon sent.
func (l *Listener) WaitFor(line string, timeout time.Duration) (string, error) {
	l.mu.Lock()
	deadline := time.Now().Add(timeout)
	if !l.expire.IsZero() && l.expire.Before(deadline) {
		deadline = l.expire
	}
	l.conn.SetReadDeadline(deadline)
	l.mu.Unlock()
	buf := make([]byte, 4096)
	for {
		n, err := l.conn.Read(buf)
		if err != nil {
			return "", fmt.Errorf("no %s (last status %q): %w", line, l.Status(), err)
		}
		msg := string(buf[:n])
		found := false
		for _, got := range strings.Split(msg, "\n") {
			if s, ok := strings.CutPrefix(got, "STATUS="); ok {
				l.mu.Lock()
				l.status = s
				l.mu.Unlock()
			}
			found = found || got == line
		}
		if found {
			return msg, nil
		}
	}
}

// Status is the last STATUS= the daemon sent.
func (l *Listener) Status() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

// Expire makes a WaitReady under way give up once d has passed, after
// reading what is already queued: for when the daemon has exited and only
// its last words are still to come.
func (l *Listener) Expire(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire = time.Now().Add(d)
	l.conn.SetReadDeadline(l.expire)
}

// Close stops listening; the daemon's later notifications fail at once
// instead of filling a queue nobody reads.
func (l *Listener) Close() error {
	err := l.conn.Close()
	os.Remove(l.path)
	return err
}
