package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// staleProbeTimeout bounds the connect that tells a live socket from one a
// crash left behind.
const staleProbeTimeout = time.Second

// NotSocketError is a file at the socket's path that is not a socket: kiln
// removes only a stale socket there, never a file it did not create.
type NotSocketError struct {
	Path string
	Kind string // what the file is instead
}

func (e *NotSocketError) Error() string {
	return fmt.Sprintf("%s exists and is %s, not a socket: kiln replaces only a stale socket; name another path", e.Path, e.Kind)
}

// checkSocketPath is the start check of the socket path: nothing there, or
// a socket (which listenControl replaces once it is known to be stale).
func checkSocketPath(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return &NotSocketError{Path: path, Kind: fileKind(fi.Mode())}
	}
	return nil
}

// listenControl opens the control socket, mode 0660: the kiln group may
// submit, others may not. A socket left by a crash is replaced; anything
// else at the path is refused, and so is a socket that something still
// listens on.
func listenControl(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return ln, nil
}

// removeStaleSocket removes the socket at path if nothing listens on it.
func removeStaleSocket(path string) error {
	if err := checkSocketPath(path); err != nil {
		var notSocket *NotSocketError
		if errors.As(err, &notSocket) {
			return &exitError{code: ExitConfig, err: fmt.Errorf("daemon.socket: %w", err)}
		}
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	conn, err := net.DialTimeout("unix", path, staleProbeTimeout)
	switch {
	case err == nil:
		conn.Close()
		return fmt.Errorf("control socket %s: another process listens on it", path)
	case errors.Is(err, os.ErrNotExist):
		return nil
	case !errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("control socket %s: cannot tell whether it is stale: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}
