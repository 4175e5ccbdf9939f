package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"kiln/worker"
	"kiln/worker/image/imageapi"
)

// JobType is the job type this package runs.
const JobType = imageapi.JobType

// Payload is an image job's payload.
type Payload = imageapi.Payload

// Settings are what the image kind reads from the daemon's current config:
// the pipelines and the [images] table.
type Settings struct {
	Pipelines map[string]Pipeline
	Images    ImagesConfig
}

// Renderer renders one picture; the daemon's is a pool of worker
// processes (Workers), a test's may render in its own (render.InProcess).
type Renderer interface {
	Render(ctx context.Context, req RenderRequest) (*Result, error)
}

// JobKind is the image job kind: it turns pictures into their pipeline's
// variants.
type JobKind struct {
	settings func() Settings
	renderer Renderer
}

var _ worker.Kind = (*JobKind)(nil)

// NewKind returns the image kind. settings is asked at each submit and each
// job, so that a reload applies at once; r renders the pictures.
func NewKind(settings func() Settings, r Renderer) *JobKind {
	return &JobKind{settings: settings, renderer: r}
}

// Type implements worker.Kind.
func (k *JobKind) Type() string { return JobType }

// ParsePayload decodes a payload strictly: unknown fields are errors, and a
// value of the wrong type is named by its field.
func ParsePayload(raw json.RawMessage) (Payload, error) {
	var p Payload
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return p, &worker.FieldError{Field: typeErr.Field, Msg: fmt.Sprintf("must be a %s, not a %s", typeErr.Type, typeErr.Value)}
		}
		return p, fmt.Errorf("image payload: %w", err)
	}
	return p, nil
}

// Admit implements worker.Kind: the pipeline must exist, and the input must
// pass the limits that can be checked without decoding it (path, roots,
// size) and look like a picture. The job goes to its pipeline's queue.
func (k *JobKind) Admit(raw json.RawMessage) (string, error) {
	p, err := ParsePayload(raw)
	if err != nil {
		return "", err
	}
	s := k.settings()
	pl, ok := s.Pipelines[p.Pipeline]
	switch {
	case p.Pipeline == "":
		return "", &worker.FieldError{Field: "pipeline", Msg: "is required"}
	case !ok:
		return "", &worker.FieldError{Field: "pipeline", Msg: fmt.Sprintf("unknown pipeline %q (configured: %s)", p.Pipeline, strings.Join(slices.Sorted(maps.Keys(s.Pipelines)), ", "))}
	case p.Input == "":
		return "", &worker.FieldError{Field: "input", Msg: "is required"}
	}
	real, err := pl.inputLimits(s.Images.InputLimits).CheckInput(p.Input)
	if err != nil {
		return "", &worker.FieldError{Field: "input", Msg: strings.TrimPrefix(err.Error(), ErrInputRefused.Error()+": ")}
	}
	if !s.Images.AllowUntrustedLoaders {
		if _, err := sniff(real); err != nil {
			return "", &worker.FieldError{Field: "input", Msg: err.Error()}
		}
	}
	return pl.Queue, nil
}

// Handle implements worker.Kind.
func (k *JobKind) Handle(ctx context.Context, job *worker.JobRecord) (json.RawMessage, error) {
	p, err := ParsePayload(job.Payload)
	if err != nil {
		return nil, worker.Permanent(err)
	}
	s := k.settings()
	pl, ok := s.Pipelines[p.Pipeline]
	if !ok {
		return nil, worker.Permanent(fmt.Errorf("pipeline %q is no longer configured", p.Pipeline))
	}
	if err := noteInboxRun(pl, p.Input, job.ID); err != nil {
		return nil, err
	}
	res, err := k.renderer.Render(ctx, RenderRequest{
		Input: p.Input, OutDir: filepath.Join(pl.OutputDir, job.ID), Variants: pl.Variants, Limits: pl.inputLimits(s.Images.InputLimits),
	})
	if err != nil {
		var re *RenderError
		if errors.As(err, &re) && re.Permanent {
			return nil, worker.Permanent(err)
		}
		return nil, err
	}
	return json.Marshal(res)
}
