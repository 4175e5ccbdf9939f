package daemon

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// notifier speaks the sd_notify protocol to whoever set NOTIFY_SOCKET:
// systemd under Type=notify, or our own parent in -daemon mode, which waits
// for READY=1 (or an error in STATUS=) before it exits.
type notifier struct {
	mu      sync.Mutex
	enabled bool
}

func newNotifier() *notifier {
	return &notifier{enabled: os.Getenv("NOTIFY_SOCKET") != ""}
}

func (n *notifier) send(lines ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.enabled {
		return
	}
	// An unreachable manager must not stop the daemon; nothing to do with
	// the error.
	_, _ = sd.SdNotify(false, strings.Join(lines, "\n"))
}

func (n *notifier) ready(status string) { n.send("READY=1", "STATUS="+status) }
func (n *notifier) status(status string) {
	n.send("STATUS=" + status)
}
func (n *notifier) stopping() { n.send("STOPPING=1", "STATUS=stopping") }
func (n *notifier) watchdog() { n.send("WATCHDOG=1") }

// reloading follows sd_notify(3): MONOTONIC_USEC lets newer managers tie
// the READY=1 that follows to this reload.
func (n *notifier) reloading() {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	usec := ts.Sec*1e6 + ts.Nsec/1e3
	n.send("RELOADING=1", fmt.Sprintf("MONOTONIC_USEC=%d", usec), "STATUS=reloading configuration")
}

// failed reports a fatal error, for the manager's status line and for the
// -daemon parent, which prints it.
func (n *notifier) failed(err error) {
	n.send("STATUS=" + strings.ReplaceAll(err.Error(), "\n", "; "))
}

// detach stops talking to the manager: used once a -daemon parent, whose
// socket that was, has gone.
func (n *notifier) detach() {
	n.mu.Lock()
	n.enabled = false
	n.mu.Unlock()
	os.Unsetenv("NOTIFY_SOCKET")
}

// watchdogInterval is how often to ping: half of WATCHDOG_USEC, or zero
// when no watchdog is armed.
func watchdogInterval() time.Duration {
	d, err := sd.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}
