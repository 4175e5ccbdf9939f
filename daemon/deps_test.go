package daemon

import (
	"slices"
	"strings"
	"testing"

	"kiln/internal/golist"
)

// The daemon knows no job kind: the kinds are plugins that kilnd's main
// registers. Were it to import one, that kind's tables and start-up would
// be wired here a second time, and every new kind a third.
func TestDaemonImportsNoJobKind(t *testing.T) {
	t.Parallel()
	deps, err := golist.Deps("kiln/daemon")
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) < 10 || !slices.Contains(deps, "kiln/worker") {
		t.Fatalf("go list -deps kiln/daemon listed %d packages, not kiln/worker among them: %q", len(deps), deps)
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
