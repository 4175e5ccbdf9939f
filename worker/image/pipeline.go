// Package image is kiln's built-in job: one picture in, every variant of a
// pipeline out. This package is the daemon's part: the [images] and
// [pipelines] tables, the job kind, and the pool of worker processes the
// pictures are decoded in; it does not link libvips. The decoding, once
// with libvips, is package render's, in kiln-image-worker, a process that
// the daemon can kill; what the two write to each other is package
// renderjob's.
package image

import (
	"fmt"
	"regexp"
	"slices"

	"kiln/worker"
	"kiln/worker/image/renderjob"
)

// Formats are the output formats a variant may ask for.
var Formats = renderjob.Formats

// Fits are how a variant fills its box.
var Fits = []string{"inside", "cover", "exact"}

// Gravities are where a cover crop keeps the picture; attention and entropy
// find the interesting part (libvips smartcrop).
var Gravities = []string{"centre", "center", "north", "south", "east", "west", "attention", "entropy"}

// Effects are colour treatments.
var Effects = []string{"grayscale", "sepia"}

// Variant is one output of a pipeline.
type Variant = renderjob.Variant

// Pipeline is a named set of variants written under one directory.
type Pipeline struct {
	Queue     string    `toml:"queue" json:"queue"`
	OutputDir string    `toml:"output_dir" json:"output_dir"`
	Variants  []Variant `toml:"variants" json:"variants"`
	// NotifyURL is POSTed a signed event when a job of this pipeline
	// succeeds or goes dead; "" leaves it to the queue's notify_url.
	NotifyURL string `toml:"notify_url" json:"notify_url,omitempty"`
	// Inbox is a directory whose pictures become jobs of this pipeline
	// (package inbox); "" for none. InboxKeep (default true) keeps a
	// picture in its done/ once its job succeeded, else it is deleted;
	// InboxSettle is how long a scan leaves a file alone after its last
	// write.
	Inbox       string          `toml:"inbox" json:"inbox,omitempty"`
	InboxKeep   *bool           `toml:"inbox_keep" json:"inbox_keep,omitempty"`
	InboxSettle worker.Duration `toml:"inbox_settle" json:"inbox_settle,omitempty"`
	// Then are the job types that follow each job of this pipeline that
	// succeeds, one follow-up each, with the job's result as its payload
	// (then.go).
	Then []string `toml:"then" json:"then,omitempty"`
}

var variantName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// PipelineError names the key of a pipeline that is wrong, so that config
// loading can point at the line.
type PipelineError struct {
	Key string // relative to the pipeline, e.g. "variants[1].width"
	Msg string
}

func (e *PipelineError) Error() string { return e.Key + ": " + e.Msg }

// FillDefaults sets what a variant leaves out: fit inside, gravity centre.
func (p *Pipeline) FillDefaults() {
	for i := range p.Variants {
		v := &p.Variants[i]
		if v.Fit == "" {
			v.Fit = "inside"
		}
		if v.Gravity == "" {
			v.Gravity = "centre"
		}
	}
}

// Check returns every problem of a pipeline whose defaults are filled in.
// Variant names become file names, so they are restricted to a safe
// alphabet and can never leave output_dir.
func (p *Pipeline) Check() []*PipelineError {
	var problems []*PipelineError
	if p.OutputDir == "" {
		problems = append(problems, &PipelineError{"output_dir", "is required"})
	}
	if len(p.Variants) == 0 {
		problems = append(problems, &PipelineError{"variants", "at least one variant is required"})
	}
	seen := map[string]bool{}
	for i := range p.Variants {
		v := &p.Variants[i]
		problem := func(k, msg string) {
			problems = append(problems, &PipelineError{fmt.Sprintf("variants[%d].%s", i, k), msg})
		}
		switch {
		case !variantName.MatchString(v.Name) || v.Name == "." || v.Name == "..":
			problem("name", fmt.Sprintf("%q is not a valid name (letters, digits, '_', '-', '.'; up to 64)", v.Name))
		case seen[v.Name]:
			problem("name", fmt.Sprintf("%q is used twice", v.Name))
		}
		seen[v.Name] = true
		switch {
		case v.Width < 0 || v.Width > 100000:
			problem("width", "must be between 1 and 100000 (or 0 to follow height)")
		case v.Height < 0 || v.Height > 100000:
			problem("height", "must be between 1 and 100000 (or 0 to follow width)")
		case v.Width == 0 && v.Height == 0:
			problem("width", "width or height must be set")
		case !slices.Contains(Fits, v.Fit):
			problem("fit", fmt.Sprintf("%q is not one of %v", v.Fit, Fits))
		case v.Fit != "inside" && (v.Width == 0 || v.Height == 0):
			problem("fit", fmt.Sprintf("fit %q needs both width and height", v.Fit))
		}
		if !slices.Contains(Gravities, v.Gravity) {
			problem("gravity", fmt.Sprintf("%q is not one of %v", v.Gravity, Gravities))
		}
		if v.Effect != "" && !slices.Contains(Effects, v.Effect) {
			problem("effect", fmt.Sprintf("%q is not one of %v", v.Effect, Effects))
		}
		if v.Blur < 0 || v.Blur > 100 {
			problem("blur", "must be between 0 and 100")
		}
		if v.Format != "" && !slices.Contains(Formats, v.Format) {
			problem("format", fmt.Sprintf("%q is not one of %v", v.Format, Formats))
		}
		if v.Quality < 0 || v.Quality > 100 {
			problem("quality", "must be between 1 and 100")
		}
		if v.Compression != nil && (*v.Compression < 0 || *v.Compression > 9) {
			problem("compression", "must be between 0 and 9")
		}
	}
	return problems
}
