package inbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// watchMask is what a watch hears of: a file closed after writing, a file
// renamed in, and the inbox itself going away. A file being created or
// written is not news: it is taken when its writer is done.
const watchMask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// watchBuffer is how many bytes of events one read takes from the kernel:
// a few hundred events of long names.
const watchBuffer = 64 << 10

// watchEvent is what one read of the kernel's queue brought.
type watchEvent struct {
	names []string // files closed after writing or renamed in, in order
	// overflow says the kernel's queue overflowed and dropped events: the
	// directory must be scanned.
	overflow bool
	// gone says the directory was removed or renamed: the watch has ended.
	gone bool
	err  error // the watch failed; nothing more comes
}

// watcher follows one directory with inotify.
type watcher struct {
	dir    string
	f      *os.File
	events chan watchEvent
	done   chan struct{}
}

// watch starts following dir. The watch is in place when it returns, so a
// scan made after it misses nothing: a file that arrives after the scan
// read the directory makes an event.
func watch(dir string) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watch inbox %s: inotify_init1: %w", dir, err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, watchMask); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ENOSPC) {
			return nil, fmt.Errorf("watch inbox %s: %w (the user's inotify watches are used up: raise fs.inotify.max_user_watches)", dir, err)
		}
		return nil, fmt.Errorf("watch inbox %s: %w", dir, err)
	}
	// A non-blocking descriptor goes to Go's poller: reads wait there, and
	// Close ends a read that waits.
	w := &watcher{dir: dir, f: os.NewFile(uintptr(fd), "inotify "+dir), events: make(chan watchEvent, 16), done: make(chan struct{})}
	go w.read()
	return w, nil
}

// Events delivers what the kernel reports, one read at a time, until the
// watch ends (gone or err) or is closed.
func (w *watcher) Events() <-chan watchEvent { return w.events }

// Close ends the watch.
func (w *watcher) Close() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	w.f.Close()
}

func (w *watcher) read() {
	buf := make([]byte, watchBuffer)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.send(watchEvent{err: fmt.Errorf("watch inbox %s: read: %w", w.dir, err)})
			}
			return
		}
		ev := parseEvents(buf[:n])
		if !w.send(ev) || ev.gone {
			return
		}
	}
}

func (w *watcher) send(ev watchEvent) bool {
	select {
	case w.events <- ev:
		return true
	case <-w.done:
		return false
	}
}

// parseEvents decodes the events of one read: each a struct inotify_event
// followed by its NUL-padded name.
func parseEvents(b []byte) watchEvent {
	var ev watchEvent
	for len(b) >= unix.SizeofInotifyEvent {
		mask := binary.NativeEndian.Uint32(b[4:8])
		nameLen := int(binary.NativeEndian.Uint32(b[12:16]))
		end := unix.SizeofInotifyEvent + nameLen
		if end > len(b) {
			break // the kernel never splits an event; nothing to make of it
		}
		name := string(bytes.TrimRight(b[unix.SizeofInotifyEvent:end], "\x00"))
		b = b[end:]
		switch {
		case mask&unix.IN_Q_OVERFLOW != 0:
			ev.overflow = true
		case mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED|unix.IN_UNMOUNT) != 0:
			ev.gone = true
		case mask&unix.IN_ISDIR != 0 || name == "":
		default:
			ev.names = append(ev.names, name)
		}
	}
	return ev
}
