package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"kiln/worker/image/vips"

	"kiln/worker"
)

// Payload is what an image job carries: a pipeline name and a reference to
// the picture, never the picture itself.
type Payload struct {
	Pipeline string `json:"pipeline"`
	Input    string `json:"input"`
}

// Output describes one written variant.
type Output struct {
	Variant string `json:"variant"`
	Path    string `json:"path"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Bytes   int    `json:"bytes"`
}

// Result is an image job's result.
type Result struct {
	Outputs   []Output `json:"outputs"`
	ElapsedMS int64    `json:"elapsed_ms"`
}

// Handler turns pictures into their pipeline's variants.
type Handler struct {
	pipelines atomic.Pointer[map[string]Pipeline]
}

// NewHandler returns a handler for the given pipelines.
func NewHandler(pipelines map[string]Pipeline) *Handler {
	h := &Handler{}
	h.SetPipelines(pipelines)
	return h
}

// SetPipelines swaps the pipelines in, for config reloads; jobs already
// running keep the pipeline they started with.
func (h *Handler) SetPipelines(pipelines map[string]Pipeline) {
	h.pipelines.Store(&pipelines)
}

func (h *Handler) pipeline(name string) (Pipeline, bool) {
	p, ok := (*h.pipelines.Load())[name]
	return p, ok
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

// Validate implements worker.Validator: the pipeline must exist and the
// input must be an absolute path to a readable picture.
func (h *Handler) Validate(raw json.RawMessage) error {
	p, err := ParsePayload(raw)
	if err != nil {
		return err
	}
	if _, ok := h.pipeline(p.Pipeline); !ok {
		return fmt.Errorf("unknown pipeline %q", p.Pipeline)
	}
	if !filepath.IsAbs(p.Input) {
		return fmt.Errorf("input %q must be an absolute path", p.Input)
	}
	if _, err := sniff(p.Input); err != nil {
		return err
	}
	return nil
}

// Handle implements worker.Handler.
func (h *Handler) Handle(ctx context.Context, job *worker.Job) (json.RawMessage, error) {
	start := time.Now()
	p, err := ParsePayload(job.Payload)
	if err != nil {
		return nil, worker.Permanent(err)
	}
	pl, ok := h.pipeline(p.Pipeline)
	if !ok {
		return nil, worker.Permanent(fmt.Errorf("pipeline %q is no longer configured", p.Pipeline))
	}
	outDir := filepath.Join(pl.OutputDir, job.ID)
	outputs, err := render(ctx, p.Input, pl.Variants, outDir)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Result{Outputs: outputs, ElapsedMS: time.Since(start).Milliseconds()})
}

// render decodes the input once, shrinking on load to the largest size any
// variant needs, and derives every variant from that one decode.
func render(ctx context.Context, input string, variants []Variant, outDir string) ([]Output, error) {
	if err := vips.Start(); err != nil {
		return nil, err
	}
	buf, err := os.ReadFile(input)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return nil, worker.Permanent(fmt.Errorf("read input: %w", err))
		}
		return nil, fmt.Errorf("read input: %w", err)
	}
	srcW, srcH, orientation, err := vips.Header(buf)
	if err != nil {
		return nil, worker.Permanent(fmt.Errorf("decode %s: %s", input, err))
	}
	if orientation >= 5 && orientation <= 8 {
		srcW, srcH = srcH, srcW // EXIF says the picture is turned a quarter
	}

	scale := 0.0
	for _, v := range variants {
		scale = math.Max(scale, fitScale(v, srcW, srcH))
	}
	baseW := max(1, int(math.Round(float64(srcW)*scale)))
	baseH := max(1, int(math.Round(float64(srcH)*scale)))
	base, err := vips.Thumbnail(buf, baseW, baseH)
	if err != nil {
		return nil, worker.Permanent(fmt.Errorf("decode %s: %s", input, err))
	}
	defer base.Close()

	if err := makeDir(outDir); err != nil {
		return nil, err
	}
	if err := removeStaleTemps(outDir); err != nil {
		return nil, err
	}
	outputs := make([]Output, 0, len(variants))
	for _, v := range variants {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out, err := renderVariant(base, v, srcW, srcH, outDir)
		if err != nil {
			return nil, err
		}
		outputs = append(outputs, out)
	}
	return outputs, nil
}

// fitScale is the scale that fits the source inside the variant's box,
// never enlarging.
func fitScale(v Variant, w, h int) float64 {
	s := math.Inf(1)
	if v.Width > 0 {
		s = float64(v.Width) / float64(w)
	}
	if v.Height > 0 {
		s = math.Min(s, float64(v.Height)/float64(h))
	}
	return math.Min(s, 1)
}

func renderVariant(base *vips.Image, v Variant, srcW, srcH int, outDir string) (Output, error) {
	img := base
	targetW := max(1, int(math.Round(float64(srcW)*fitScale(v, srcW, srcH))))
	if targetW < base.Width() {
		resized, err := base.Resize(float64(targetW) / float64(base.Width()))
		if err != nil {
			return Output{}, fmt.Errorf("variant %s: resize: %s", v.Name, err)
		}
		defer resized.Close()
		img = resized
	}
	data, err := img.Encode(v.Format, v.Quality)
	if err != nil {
		return Output{}, fmt.Errorf("variant %s: encode %s: %s", v.Name, v.Format, err)
	}
	path := filepath.Join(outDir, v.Name+"."+extension(v.Format))
	if err := writeAtomic(path, data); err != nil {
		return Output{}, fmt.Errorf("variant %s: %w", v.Name, err)
	}
	return Output{Variant: v.Name, Path: path, Width: img.Width(), Height: img.Height(), Bytes: len(data)}, nil
}
