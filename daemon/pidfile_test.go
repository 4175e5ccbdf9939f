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
