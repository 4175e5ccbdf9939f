package image

import (
	"kiln/kilntype"
	"kiln/worker/image/renderjob"
)

// ImagesConfig is the [images] table: what a picture may be, and how the worker
// processes that decode pictures are run.
type ImagesConfig struct {
	InputLimits
	WorkerSettings
}

// InputLimits are checked before a picture is decoded.
type InputLimits = renderjob.InputLimits

// WorkerSettings govern the worker processes. A process keeps the settings
// it was started with; after a change, each is replaced once its current
// job ends.
type WorkerSettings struct {
	RecycleAfter    int      `toml:"recycle_after"`     // jobs per worker process
	MaxWorkerRSS    ByteSize `toml:"max_worker_rss"`    // recycled above this
	WorkerMemoryMax ByteSize `toml:"worker_memory_max"` // address-space limit
	// libvips threads in each worker; 0 = the CPUs shared out among the
	// jobs that may run at once (the daemon fills it in).
	ThreadsPerWorker int `toml:"threads_per_worker"`
}

// DefaultImagesConfig is the [images] table when the config says nothing: 100 MiB
// and 50 megapixels, as imgproxy does. It allows no input root: the daemon
// fills in UploadDir of its state directory (DefaultInputRoots).
func DefaultImagesConfig() ImagesConfig {
	return ImagesConfig{
		InputLimits: InputLimits{MaxInputBytes: 100 << 20, MaxPixels: 50_000_000},
		WorkerSettings: WorkerSettings{
			RecycleAfter:    200,
			MaxWorkerRSS:    512 << 20,
			WorkerMemoryMax: 4 << 30,
		},
	}
}

// ByteSize is a size written as "100MiB", "512KiB", "2GiB" or plain bytes.
type ByteSize = kilntype.ByteSize

// ErrInputRefused marks an input refused by a limit: never worth a retry.
var ErrInputRefused = renderjob.ErrInputRefused
