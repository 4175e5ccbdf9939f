package image

import "kiln/worker/image/renderjob"

// What the daemon and its worker processes write to each other is package
// renderjob's, which the worker links without the daemon's packages; the
// daemon's end speaks it under these names.
type (
	RenderRequest = renderjob.RenderRequest
	RenderError   = renderjob.RenderError
	WorkerRequest = renderjob.WorkerRequest
	ProbeRequest  = renderjob.ProbeRequest
	ProbeAnswer   = renderjob.ProbeAnswer
	WorkerMessage = renderjob.WorkerMessage
	DaemonReply   = renderjob.DaemonReply

	// Result, Output and Stages are the job's result as applications
	// read it (package imageapi).
	Result = renderjob.Result
	Output = renderjob.Output
	Stages = renderjob.Stages
)

// AskCPUs, EnvWorkerMemoryMax and EnvAllowUntrustedLoaders: see
// package renderjob.
const (
	AskCPUs                  = renderjob.AskCPUs
	EnvWorkerMemoryMax       = renderjob.EnvWorkerMemoryMax
	EnvAllowUntrustedLoaders = renderjob.EnvAllowUntrustedLoaders
)
