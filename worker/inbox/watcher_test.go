package inbox

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// next waits for the watch's next read, failing after a deadline.
func next(t *testing.T, w *watcher) watchEvent {
	t.Helper()
	select {
	case ev := <-w.Events():
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no inotify event within 10 s")
		return watchEvent{}
	}
}

// collect reads events until names holds want, or a deadline.
func collect(t *testing.T, w *watcher, want ...string) []string {
	t.Helper()
	var names []string
	for !containsAll(names, want) {
		ev := next(t, w)
		if ev.err != nil || ev.gone {
			t.Fatalf("watch ended: %+v", ev)
		}
		names = append(names, ev.names...)
	}
	return names
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// A file is reported when its writer closes it or when it is renamed in,
// never while it is open for writing; a rename out and a directory are
// not news.
func TestWatchReportsFinishedFilesOnly(t *testing.T) {
	dir := t.TempDir()
	w, err := watch(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	open, err := os.Create(filepath.Join(dir, "writing.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open.Write([]byte("half")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "closed.jpg"), []byte("whole"), 0o644); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "moved.jpg")
	os.WriteFile(elsewhere, []byte("whole"), 0o644)
	// A rename within the filesystem: from another dir of the same temp root.
	if err := os.Rename(elsewhere, filepath.Join(dir, "moved.jpg")); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "subdir"), 0o755)
	names := collect(t, w, "closed.jpg", "moved.jpg")
	if slices.Contains(names, "writing.jpg") {
		t.Errorf("a file still open for writing was reported: %v", names)
	}
	if slices.Contains(names, "subdir") {
		t.Errorf("a directory was reported: %v", names)
	}
	open.Close()
	names = collect(t, w, "writing.jpg")
	if len(names) != 1 {
		t.Errorf("closing one file reported %v", names)
	}
}

// When the kernel's queue overflows, the watch says so, and a scan is due.
func TestWatchReportsOverflow(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	if err != nil {
		t.Skip("no /proc/sys/fs/inotify/max_queued_events:", err)
	}
	limit, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || limit > 100_000 {
		t.Skipf("max_queued_events is %q: too many files to make for an overflow", b)
	}
	dir := t.TempDir()
	w, err := watch(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// The reader hands over one read at a time on a short channel, so the
	// kernel's queue fills while this test reads nothing. Two files closed
	// after writing in turn: the kernel folds only identical events that
	// follow each other.
	for i := range 2 {
		if err := os.WriteFile(filepath.Join(dir, "f"+strconv.Itoa(i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i <= 2*limit; i++ {
		fd, err := unix.Open(filepath.Join(dir, "f"+strconv.Itoa(i%2)), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ev := next(t, w)
		if ev.overflow {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no overflow reported")
		}
	}
}

// Removing the inbox ends the watch with gone.
func TestWatchReportsTheDirectoryGone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "inbox")
	os.Mkdir(dir, 0o755)
	w, err := watch(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	for {
		ev := next(t, w)
		if ev.gone {
			return
		}
	}
}

func TestParseEvents(t *testing.T) {
	if ev := parseEvents(nil); ev.overflow || ev.gone || len(ev.names) > 0 {
		t.Errorf("nothing parsed as %+v", ev)
	}
}
