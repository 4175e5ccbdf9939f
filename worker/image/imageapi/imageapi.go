// Package imageapi is the image job as applications see it: the payload
// they submit and the result they read back. It has no cgo and no libvips,
// so that kilnctl and any Go program can use it without linking the
// decoder.
package imageapi

import (
	"encoding/json"

	"kiln/api"
)

// JobType is the job type of image jobs.
const JobType = "image"

// Payload is what an image job carries: a pipeline name and a reference to
// the picture, never the picture itself.
type Payload struct {
	Pipeline string `json:"pipeline"`
	Input    string `json:"input"` // an absolute path the daemon can read
}

// Request is the submit request of an image job, in the pipeline's queue
// unless the caller sets Queue.
func Request(pipeline, input string) api.SubmitRequest {
	payload, _ := json.Marshal(Payload{Pipeline: pipeline, Input: input}) // two strings always marshal
	return api.SubmitRequest{Type: JobType, Payload: payload}
}

// Output describes one written variant.
type Output struct {
	Variant   string `json:"variant"`
	Path      string `json:"path"`
	Format    string `json:"format"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Bytes     int    `json:"bytes"`
	ElapsedMS int64  `json:"elapsed_ms"`
}

// Result is an image job's result.
type Result struct {
	Outputs   []Output `json:"outputs"`
	DecodeMS  int64    `json:"decode_ms"`
	ElapsedMS int64    `json:"elapsed_ms"`
	WorkerPID int      `json:"worker_pid,omitempty"` // the process that decoded it
	Stages    *Stages  `json:"stages,omitempty"`
}

// Stages is where a job's time went, in milliseconds of the thread that did
// each step; steps that ran at the same time add up to more than the job's
// elapsed time. Operators and benchmarks read it to see what bounds a job.
type Stages struct {
	ReadMS   float64            `json:"read_ms"`   // the input file into memory
	DecodeMS float64            `json:"decode_ms"` // shrink-on-load decodes, with their resize
	ResizeMS float64            `json:"resize_ms"` // resizes and crops from a decoded picture
	EncodeMS map[string]float64 `json:"encode_ms"` // per variant: effects and encoder
	WriteMS  float64            `json:"write_ms"`  // write, fsync, rename, fsync of the directory
	// DecodeThreads and VariantsAtOnce are the libvips threads the
	// picture was decoded on (0: the worker's own number) and how many
	// variants were made at the same time: as many as there were CPUs for
	// this job alone.
	DecodeThreads  int `json:"decode_threads,omitempty"`
	VariantsAtOnce int `json:"variants_at_once,omitempty"`
}

// ParseResult decodes a job's result.
func ParseResult(raw json.RawMessage) (*Result, error) {
	var r Result
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
