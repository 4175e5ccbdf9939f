package image

// WorkerObserver hears of the life of image worker processes, for metrics.
// Its methods must not block: they are called on the jobs' paths.
type WorkerObserver interface {
	WorkerStarted()
	// WorkerRecycled: a worker was stopped after a job because it had run
	// its recycle_after jobs, outgrew max_worker_rss or was started under
	// settings a reload has changed.
	WorkerRecycled()
	// WorkerKilled: a worker was killed because its job was cancelled or
	// timed out; timedOut says which.
	WorkerKilled(timedOut bool)
	// WorkerDied: a worker exited or crashed in the middle of a job.
	WorkerDied()
}

// Observe makes o hear of the workers' lives from now on; call it before
// the first job.
func (w *Workers) Observe(o WorkerObserver) { w.observer = o }
