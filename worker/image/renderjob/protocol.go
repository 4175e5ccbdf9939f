package renderjob

import "fmt"

// The daemon talks to its worker processes (kiln-image-worker, package
// render) over their stdin and stdout: one JSON line per request, one per
// answer or question. This file holds the lines both ends read and write;
// the daemon's end is package image (process.go, probe.go), the worker's
// package render.

// EnvWorkerMemoryMax carries the worker's address-space limit in bytes.
const EnvWorkerMemoryMax = "KILN_IMAGE_WORKER_MEMORY_MAX"

// EnvAllowUntrustedLoaders is "1" when the worker may use libvips' loaders
// that are not fuzzed (SVG, PDF, ...). libvips takes this once, when it
// starts, which is why a change needs new worker processes.
const EnvAllowUntrustedLoaders = "KILN_IMAGE_ALLOW_UNTRUSTED_LOADERS"

// RenderRequest is one picture to turn into its variants.
type RenderRequest struct {
	Input    string      `json:"input"`
	OutDir   string      `json:"out_dir"`
	Variants []Variant   `json:"variants"`
	Limits   InputLimits `json:"limits"`
	// CPUs is how many CPUs the picture has to itself: a worker process
	// decodes it on as many libvips threads (or its own number, if more),
	// and makes as many variants at once. 0 is what the daemon says when
	// asked, in a worker process, or every CPU. The outputs do not depend
	// on it, only the time and the memory they take.
	CPUs int `json:"cpus,omitempty"`
}

// WorkerRequest is a line the daemon writes to a worker: a picture to
// render, or, with Probe set, a question about the worker's libvips. A
// render request is the RenderRequest's fields alone, as it always was.
type WorkerRequest struct {
	RenderRequest
	Probe *ProbeRequest `json:"probe,omitempty"`
}

// ProbeRequest asks a worker what its libvips can do, so that the daemon,
// which does not link libvips, can refuse a config the workers could not
// carry out.
type ProbeRequest struct {
	// Formats are the output formats to try, each on a tiny picture: a
	// saver may be there and its encoder not.
	Formats []string `json:"formats"`
}

// ProbeAnswer is a worker's answer to a ProbeRequest.
type ProbeAnswer struct {
	// Libvips is the version of the libvips the worker runs.
	Libvips string `json:"libvips"`
	// Formats has an entry for each format asked about: "" where the
	// worker wrote the tiny picture, else libvips' error.
	Formats map[string]string `json:"formats"`
}

// WorkerMessage is a line a worker writes: its answer to the request, or
// a question for the daemon while it renders.
type WorkerMessage struct {
	Result *Result      `json:"result,omitempty"`
	Error  *RenderError `json:"error,omitempty"`
	Probe  *ProbeAnswer `json:"probe,omitempty"`
	Ask    string       `json:"ask,omitempty"`
}

// AskCPUs is a worker's question before it decodes its picture and again
// before it makes the variants: how many CPUs the picture has to itself.
// The daemon answers with a DaemonReply line.
const AskCPUs = "cpus"

// DaemonReply is the daemon's answer to a worker's question.
type DaemonReply struct {
	CPUs int `json:"cpus"`
}

// RenderError is a failed render; Permanent ones (a broken or refused
// picture) are not worth a retry.
type RenderError struct {
	Msg       string `json:"error"`
	Permanent bool   `json:"permanent"`
}

func (e *RenderError) Error() string { return e.Msg }

// Permanent is a RenderError not worth a retry.
func Permanent(format string, args ...any) error {
	return &RenderError{Msg: fmt.Sprintf(format, args...), Permanent: true}
}
