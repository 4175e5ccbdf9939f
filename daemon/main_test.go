package daemon

import (
	"os"
	"testing"

	"kiln/worker/image"
	"kiln/worker/image/imagetest"
)

// testWorkerBinary is kiln-image-worker, built for these tests: the image
// plugin's config check asks a worker process what its libvips writes, as
// kilnd's does, and the daemon's tests run beside no worker binary of
// their own.
var testWorkerBinary string

func TestMain(m *testing.M) {
	os.Exit(imagetest.RunWithWorker(m, image.WorkerBinary, func(path string) { testWorkerBinary = path }))
}
