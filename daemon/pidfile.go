package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Pidfile is held locked (flock) for the daemon's whole life: the lock, not
// the file's existence, says that an instance runs, so a pidfile left by a
// crash is simply taken over. A file that holds anything but a PID is not a
// pidfile and is never written: a typo in the config must not cost the
// file it names.
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

// NotPidfileError is a file at a pidfile's path that is not one.
type NotPidfileError struct {
	Path   string
	Reason string // what the file is instead
}

func (e *NotPidfileError) Error() string {
	return fmt.Sprintf("%s %s, not a pidfile (empty, or a PID and a newline): kiln writes only its own pidfile: name another path", e.Path, e.Reason)
}

// maxPidfileSize bounds what a pidfile may hold: a PID and a newline.
const maxPidfileSize = 21

// AcquirePidfile locks path and writes our PID into it. An existing file
// is opened without truncation and refused unless it is a pidfile; a
// symlink is refused, so that the write cannot land somewhere else.
func AcquirePidfile(path string) (*Pidfile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create pidfile directory: %w", err)
	}
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
		if err != nil {
			if errors.Is(err, syscall.ELOOP) {
				return nil, &NotPidfileError{Path: path, Reason: "is a symlink"}
			}
			return nil, fmt.Errorf("open pidfile %s: %w", path, err)
		}
		// Refused before the lock too: a file someone else holds locked
		// must be named for what it is, not as another kilnd.
		if _, err := readPidfile(f, path); err != nil {
			f.Close()
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			defer f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				pid, _ := readPidfile(f, path)
				return nil, &AlreadyRunningError{Path: path, PID: pid}
			}
			return nil, fmt.Errorf("lock pidfile %s: %w", path, err)
		}
		// The previous holder may have removed the file between our open
		// and our lock; then we hold a lock on a file nobody can see.
		if !sameFile(f, path) {
			f.Close()
			continue
		}
		// Under the lock no kilnd writes it: what it holds now is what
		// gets replaced.
		if _, err := readPidfile(f, path); err != nil {
			f.Close()
			return nil, err
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

// Release removes the pidfile if the path still names the file we locked
// (an operator may have put another file there since), then drops the
// lock.
func (p *Pidfile) Release() error {
	var err error
	if sameFile(p.f, p.path) {
		err = os.Remove(p.path)
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkPidfilePath is the start check of a pidfile path: nothing there, or
// a pidfile. It takes no lock; AcquirePidfile decides who runs.
func checkPidfilePath(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return &NotPidfileError{Path: path, Reason: "is " + fileKind(fi.Mode())}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = readPidfile(f, path)
	return err
}

// readPidfile reads the PID of an open pidfile (0 for an empty one), or
// says why the file is not a pidfile.
func readPidfile(f *os.File, path string) (int, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("pidfile %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, &NotPidfileError{Path: path, Reason: "is " + fileKind(fi.Mode())}
	}
	if fi.Size() > maxPidfileSize {
		return 0, &NotPidfileError{Path: path, Reason: fmt.Sprintf("holds %d bytes", fi.Size())}
	}
	buf := make([]byte, maxPidfileSize+1)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read pidfile %s: %w", path, err)
	}
	pid, ok := parsePidfile(buf[:n])
	if !ok {
		return 0, &NotPidfileError{Path: path, Reason: fmt.Sprintf("holds %q", buf[:n])}
	}
	return pid, nil
}

// parsePidfile accepts what a pidfile holds: nothing, or a positive
// decimal PID followed by a newline (or, as some tools write it, not).
func parsePidfile(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, true
	}
	if b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// sameFile reports whether path names f itself, not a symlink to it or
// another file put in its place.
func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	if err != nil {
		return false
	}
	return os.SameFile(a, b)
}
