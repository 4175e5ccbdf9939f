// Package imageapi is the image job as applications see it: the payload
// they submit and the result they read back. It has no cgo and no libvips,
// so that kilnctl and any Go program can use it without linking the
// decoder.
package imageapi

import (
	"encoding/json"

	"kiln/api"
	"kiln/worker/image/renderjob"
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

// Output, Result and Stages are an image job's result (package
// renderjob, where the workers write it).
type (
	Output = renderjob.Output
	Result = renderjob.Result
	Stages = renderjob.Stages
)

// ParseResult decodes a job's result.
func ParseResult(raw json.RawMessage) (*Result, error) {
	var r Result
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
