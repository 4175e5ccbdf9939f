package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"kiln/worker/image"
)

// testWorkerBinary is kiln-image-worker, built for these tests: the image
// plugin's config check asks a worker process what its libvips writes, as
// kilnd's does, and the daemon's tests run beside no worker binary of
// their own.
var testWorkerBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kiln-daemon-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testWorkerBinary = filepath.Join(dir, image.WorkerBinary)
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", testWorkerBinary, "kiln/cmd/kiln-image-worker")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build kiln-image-worker for the tests: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
