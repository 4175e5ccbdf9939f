package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPidfileRefusesSecondHolder(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "run", "kilnd.pid")
	first, err := AcquirePidfile(path)
	if err != nil {
		t.Fatal(err)
	}
	content, _ := os.ReadFile(path)
	if strings.TrimSpace(string(content)) != fmt.Sprint(os.Getpid()) {
		t.Fatalf("pidfile holds %q, want our pid %d", content, os.Getpid())
	}
	// flock locks belong to the open file, so a second open in the same
	// process is refused just as another process would be.
	_, err = AcquirePidfile(path)
	var running *AlreadyRunningError
	if !errors.As(err, &running) || running.PID != os.Getpid() {
		t.Fatalf("second acquire: err = %v, want AlreadyRunningError naming pid %d", err, os.Getpid())
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("message %q does not name the pid", err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("pidfile still there after release: %v", err)
	}
	again, err := AcquirePidfile(path)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	again.Release()
}

// A pidfile left by a crash names a dead process but holds no lock: it is
// taken over.
func TestPidfileTakesOverStaleFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kilnd.pid")
	if err := os.WriteFile(path, []byte("999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := AcquirePidfile(path)
	if err != nil {
		t.Fatalf("stale pidfile not taken over: %v", err)
	}
	defer p.Release()
	content, _ := os.ReadFile(path)
	if strings.TrimSpace(string(content)) != fmt.Sprint(os.Getpid()) {
		t.Fatalf("pidfile holds %q after takeover", content)
	}
}

// A file at the pidfile's path that holds anything but a PID is not a
// pidfile: it is refused and left byte for byte as it was.
func TestPidfileRefusesOtherFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, content := range []string{"an operator's notes\n", "123 456\n", "-5\n", "0\n", strings.Repeat("9", 40)} {
		path := filepath.Join(dir, "notes")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		before, _ := os.Stat(path)
		_, err := AcquirePidfile(path)
		var notPidfile *NotPidfileError
		if !errors.As(err, &notPidfile) || !strings.Contains(err.Error(), path) {
			t.Fatalf("pidfile holding %q: err = %v, want a NotPidfileError naming %s", content, err, path)
		}
		if err := checkPidfilePath(path); !errors.As(err, &notPidfile) {
			t.Fatalf("check of a pidfile path holding %q: err = %v, want a NotPidfileError", content, err)
		}
		after, _ := os.Stat(path)
		got, _ := os.ReadFile(path)
		if string(got) != content || !os.SameFile(before, after) {
			t.Fatalf("pidfile path holding %q now holds %q (same file: %v)", content, got, os.SameFile(before, after))
		}
	}
	for _, content := range []string{"", "123\n", "123"} {
		path := filepath.Join(dir, "kilnd.pid")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := checkPidfilePath(path); err != nil {
			t.Fatalf("check of a pidfile holding %q: %v", content, err)
		}
		p, err := AcquirePidfile(path)
		if err != nil {
			t.Fatalf("pidfile holding %q not taken over: %v", content, err)
		}
		p.Release()
	}
}

// A symlink at the pidfile's path is refused: the PID would be written
// into whatever it points at.
func TestPidfileRefusesSymlink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "target.pid")
	if err := os.WriteFile(target, []byte("123\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kilnd.pid")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	var notPidfile *NotPidfileError
	if _, err := AcquirePidfile(path); !errors.As(err, &notPidfile) || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("acquire through a symlink: err = %v, want a NotPidfileError saying symlink", err)
	}
	if err := checkPidfilePath(path); !errors.As(err, &notPidfile) {
		t.Fatalf("check of a symlink: err = %v", err)
	}
	if got, _ := os.ReadFile(target); string(got) != "123\n" {
		t.Fatalf("symlink target now holds %q", got)
	}
}

// Release removes the pidfile only while the path still names the file
// it locked: a file put there since is someone else's.
func TestPidfileReleaseKeepsReplacedFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kilnd.pid")
	p, err := AcquirePidfile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("someone else's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "someone else's\n" {
		t.Fatalf("the file put at the path after the lock: %q, %v", got, err)
	}
}
