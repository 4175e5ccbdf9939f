package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// notifySocket is the service manager's end of sd_notify(3) as systemd
// has it: a unixgram socket named to kilnd in NOTIFY_SOCKET. Unlike a
// service manager it keeps every STATUS= kilnd sends, with the time it
// came, so that the report can show what kilnd said while it caught up.
type notifySocket struct {
	path string
	conn *net.UnixConn

	mu       sync.Mutex
	ready    chan struct{} // closed at the first READY=1
	readyAt  time.Time
	statuses []timedStatus
	arrived  chan struct{} // closed and replaced at each STATUS=
}

// timedStatus is one STATUS= and when it arrived.
type timedStatus struct {
	at   time.Time
	text string
}

func listenNotify(path string) (*notifySocket, error) {
	os.Remove(path)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("listen for kilnd's notices on %s: %w", path, err)
	}
	n := &notifySocket{path: path, conn: conn, ready: make(chan struct{}), arrived: make(chan struct{})}
	go n.read()
	return n, nil
}

func (n *notifySocket) env() string { return "NOTIFY_SOCKET=" + n.path }

// read takes the notices until the socket is closed.
func (n *notifySocket) read() {
	buf := make([]byte, 64<<10)
	for {
		size, err := n.conn.Read(buf)
		if err != nil {
			return
		}
		now := time.Now()
		n.mu.Lock()
		for _, line := range strings.Split(string(buf[:size]), "\n") {
			if text, ok := strings.CutPrefix(line, "STATUS="); ok {
				n.statuses = append(n.statuses, timedStatus{at: now, text: text})
				close(n.arrived)
				n.arrived = make(chan struct{})
			}
			if line == "READY=1" && n.readyAt.IsZero() {
				n.readyAt = now
				close(n.ready)
			}
		}
		n.mu.Unlock()
	}
}

// last is the latest STATUS=, "" before any.
func (n *notifySocket) last() timedStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.statuses) == 0 {
		return timedStatus{}
	}
	return n.statuses[len(n.statuses)-1]
}

// statusAfter waits for the first STATUS= that arrived after t, for at
// most timeout, and reports whether one did.
func (n *notifySocket) statusAfter(t time.Time, timeout time.Duration) (timedStatus, bool) {
	deadline := time.After(timeout)
	for {
		n.mu.Lock()
		for _, s := range n.statuses {
			if s.at.After(t) {
				n.mu.Unlock()
				return s, true
			}
		}
		arrived := n.arrived
		n.mu.Unlock()
		select {
		case <-arrived:
		case <-deadline:
			return timedStatus{}, false
		}
	}
}

// changes is every STATUS= that differs from the one before it.
func (n *notifySocket) changes() []timedStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []timedStatus
	for _, s := range n.statuses {
		if len(out) == 0 || out[len(out)-1].text != s.text {
			out = append(out, s)
		}
	}
	return out
}

func (n *notifySocket) close() {
	n.conn.Close()
	os.Remove(n.path)
}
