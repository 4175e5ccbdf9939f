package daemon

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The daemon knows no job kind: the kinds are plugins that kilnd's main
// registers. Were it to import one, that kind's tables and start-up would
// be wired here a second time, and every new kind a third.
func TestDaemonImportsNoJobKind(t *testing.T) {
	t.Parallel()
	// The go command that runs this test, wherever PATH leads.
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "list", "-deps", "kiln/daemon").Output()
	if err != nil {
		t.Fatalf("go list -deps kiln/daemon: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !slices.Contains(deps, "kiln/worker") {
		t.Fatalf("go list -deps kiln/daemon listed %d packages, not kiln/worker among them: %q", len(deps), out)
	}
	for _, dep := range deps {
		// Under kiln/worker/ are the kinds and the queue backends; the
		// backends (worker/queue/...) are the daemon's to open.
		kind, ok := strings.CutPrefix(dep, "kiln/worker/")
		if ok && !strings.HasPrefix(kind, "queue/") {
			t.Errorf("kiln/daemon imports %s, a job kind's package: kinds are plugins, registered by cmd/kilnd", dep)
		}
	}
}
