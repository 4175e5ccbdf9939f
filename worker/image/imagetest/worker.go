package imagetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RunWithWorker is the TestMain of a package whose tests render in real
// worker processes: it builds kiln-image-worker as name in a directory of
// its own, with the go command that runs the tests, hands its path to
// use, runs the tests and removes the directory. It returns the exit code.
func RunWithWorker(m *testing.M, name string, use func(path string)) int {
	dir, err := os.MkdirTemp("", "kiln-worker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, name)
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", path, "kiln/cmd/kiln-image-worker")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build kiln-image-worker for the tests: %v\n", err)
		return 1
	}
	use(path)
	return m.Run()
}
