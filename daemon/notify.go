package daemon

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

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

// notifyTimeout bounds one notification: a datagram socket blocks its
// sender when the receiver stops reading, and a manager that does must not
// be able to stall the daemon.
const notifyTimeout = time.Second

func (n *notifier) send(lines ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.enabled {
		return
	}
	// An unreachable manager must not stop the daemon; nothing to do with
	// the error.
	_ = sdNotify(os.Getenv("NOTIFY_SOCKET"), strings.Join(lines, "\n"))
}

// sdNotify sends one sd_notify(3) datagram, with a deadline.
func sdNotify(socket, msg string) error {
	if socket == "" {
		return nil
	}
	if socket[0] == '@' {
		socket = "\x00" + socket[1:] // abstract namespace
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(notifyTimeout)); err != nil {
		return err
	}
	_, err = conn.Write([]byte(msg))
	return err
}

func (n *notifier) ready(status string) { n.send("READY=1", "STATUS="+status) }
func (n *notifier) status(status string) {
	n.send("STATUS=" + status)
}

// extend asks the manager for more time to start (sd_notify(3)
// EXTEND_TIMEOUT_USEC), while a start takes long for a reason it states.
func (n *notifier) extend(by time.Duration, status string) {
	n.send(fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", by.Microseconds()), "STATUS="+status)
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
// when no watchdog is armed for this process (WATCHDOG_PID, when set, must
// be ours: the variables may have been inherited).
func watchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}
