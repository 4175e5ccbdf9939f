package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"

	"kiln/worker"
)

// Payload is what an image job carries: a pipeline name and a reference to
// the picture, never the picture itself.
type Payload struct {
	Pipeline string `json:"pipeline"`
	Input    string `json:"input"`
}

// Renderer renders one picture; the daemon's is a pool of worker processes.
type Renderer interface {
	Render(ctx context.Context, req RenderRequest) (*Result, error)
}

// InProcess renders in the calling process: for tests and for the worker
// processes themselves.
type InProcess struct{}

// Render implements Renderer.
func (InProcess) Render(ctx context.Context, req RenderRequest) (*Result, error) {
	return Render(ctx, req)
}

// Handler turns pictures into their pipeline's variants.
type Handler struct {
	settings atomic.Pointer[settings]
	renderer Renderer
}

type settings struct {
	pipelines map[string]Pipeline
	limits    Limits
}

// NewHandler returns a handler that renders with r.
func NewHandler(pipelines map[string]Pipeline, limits Limits, r Renderer) *Handler {
	h := &Handler{renderer: r}
	h.Configure(pipelines, limits)
	return h
}

// Configure swaps pipelines and limits in, for config reloads; jobs already
// running keep what they started with.
func (h *Handler) Configure(pipelines map[string]Pipeline, limits Limits) {
	h.settings.Store(&settings{pipelines: pipelines, limits: limits})
}

// ParsePayload decodes a payload strictly: unknown fields are errors.
func ParsePayload(raw json.RawMessage) (Payload, error) {
	var p Payload
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("image payload: %w", err)
	}
	return p, nil
}

// Validate implements worker.Validator: the pipeline must exist, and the
// input must pass the limits that can be checked without decoding it (path,
// roots, size) and look like a picture.
func (h *Handler) Validate(raw json.RawMessage) error {
	p, err := ParsePayload(raw)
	if err != nil {
		return err
	}
	s := h.settings.Load()
	if _, ok := s.pipelines[p.Pipeline]; !ok {
		return fmt.Errorf("unknown pipeline %q", p.Pipeline)
	}
	real, _, err := s.limits.checkInput(p.Input)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), errInputRefused.Error()+": "))
	}
	if !s.limits.AllowUntrustedLoaders {
		if _, err := sniff(real); err != nil {
			return err
		}
	}
	return nil
}

// Handle implements worker.Handler.
func (h *Handler) Handle(ctx context.Context, job *worker.Job) (json.RawMessage, error) {
	p, err := ParsePayload(job.Payload)
	if err != nil {
		return nil, worker.Permanent(err)
	}
	s := h.settings.Load()
	pl, ok := s.pipelines[p.Pipeline]
	if !ok {
		return nil, worker.Permanent(fmt.Errorf("pipeline %q is no longer configured", p.Pipeline))
	}
	res, err := h.renderer.Render(ctx, RenderRequest{
		Input: p.Input, OutDir: filepath.Join(pl.OutputDir, job.ID), Variants: pl.Variants, Limits: s.limits,
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
