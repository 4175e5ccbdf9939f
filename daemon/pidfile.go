package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Pidfile is held locked (flock) for the daemon's whole life: the lock, not
// the file's existence, says that an instance runs, so a pidfile left by a
// crash is simply taken over.
type Pidfile struct {
	path string
	f    *os.File
}

// AlreadyRunningError says which process holds the pidfile.
type AlreadyRunningError struct {
	Path string
	PID  int // 0 when the holder's PID could not be read
}

func (e *AlreadyRunningError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("another kilnd is already running (pid %d holds %s)", e.PID, e.Path)
	}
	return fmt.Sprintf("another kilnd is already running (it holds %s)", e.Path)
}

// AcquirePidfile locks path and writes our PID into it.
func AcquirePidfile(path string) (*Pidfile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create pidfile directory: %w", err)
	}
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open pidfile %s: %w", path, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			defer f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, &AlreadyRunningError{Path: path, PID: readPID(f)}
			}
			return nil, fmt.Errorf("lock pidfile %s: %w", path, err)
		}
		// The previous holder may have removed the file between our open
		// and our lock; then we hold a lock on a file nobody can see.
		if !sameFile(f, path) {
			f.Close()
			continue
		}
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("write pidfile %s: %w", path, err)
		}
		if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("write pidfile %s: %w", path, err)
		}
		return &Pidfile{path: path, f: f}, nil
	}
}

// Release removes the pidfile, then drops the lock.
func (p *Pidfile) Release() error {
	err := os.Remove(p.path)
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		return 0
	}
	return pid
}

func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	if err != nil {
		return false
	}
	return os.SameFile(a, b)
}
