package daemon

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// A manager that stops reading its notify socket must not stall the
// daemon: once the socket's queue is full, sends give up after a deadline.
func TestNotifyDoesNotBlockOnAStuckManager(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() // never read
	done := make(chan int)
	go func() {
		failures := 0
		for i := 0; i < 2000; i++ {
			if sdNotify(path, "STATUS=filling the queue of a manager that does not read") != nil {
				failures++
				if failures == 2 {
					break
				}
			}
		}
		done <- failures
	}()
	select {
	case failures := <-done:
		if failures == 0 {
			t.Fatal("2000 datagrams fitted in the socket queue; the test did not fill it")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sdNotify blocked on a manager that does not read")
	}
}
