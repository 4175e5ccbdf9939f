// Package image is kiln's built-in job: one picture in, every variant of a
// pipeline out, decoded once with libvips.
package image

import (
	"fmt"
	"regexp"
)

// JobType is the job type this package handles.
const JobType = "image"

// Formats are the output formats a variant may ask for.
var Formats = []string{"jpeg", "png", "webp"}

// Variant is one output of a pipeline.
type Variant struct {
	Name    string `toml:"name" json:"name"`       // also the output file's base name
	Width   int    `toml:"width" json:"width"`     // 0 = follow height
	Height  int    `toml:"height" json:"height"`   // 0 = follow width
	Format  string `toml:"format" json:"format"`   // jpeg | png | webp
	Quality int    `toml:"quality" json:"quality"` // 1..100; 0 = the format's default
}

// Pipeline is a named set of variants written under one directory.
type Pipeline struct {
	Queue     string    `toml:"queue" json:"queue"`
	OutputDir string    `toml:"output_dir" json:"output_dir"`
	Variants  []Variant `toml:"variants" json:"variants"`
}

var variantName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// FieldError names the key of a pipeline that is wrong, so that config
// loading can point at the line.
type FieldError struct {
	Key string // relative to the pipeline, e.g. "variants[1].width"
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// Check validates a pipeline. Variant names become file names, so they are
// restricted to a safe alphabet and can never leave output_dir.
func (p *Pipeline) Check() error {
	if p.OutputDir == "" {
		return &FieldError{"output_dir", "is required"}
	}
	if len(p.Variants) == 0 {
		return &FieldError{"variants", "at least one variant is required"}
	}
	seen := map[string]bool{}
	for i, v := range p.Variants {
		at := func(k string) string { return fmt.Sprintf("variants[%d].%s", i, k) }
		switch {
		case !variantName.MatchString(v.Name) || v.Name == "." || v.Name == "..":
			return &FieldError{at("name"), fmt.Sprintf("%q is not a valid name (letters, digits, '_', '-', '.'; up to 64)", v.Name)}
		case seen[v.Name]:
			return &FieldError{at("name"), fmt.Sprintf("%q is used twice", v.Name)}
		case v.Width < 0 || v.Height < 0 || v.Width > 100000 || v.Height > 100000:
			return &FieldError{at("width"), "width and height must be between 0 and 100000"}
		case v.Width == 0 && v.Height == 0:
			return &FieldError{at("width"), "width or height must be set"}
		case !validFormat(v.Format):
			return &FieldError{at("format"), fmt.Sprintf("%q is not one of %v", v.Format, Formats)}
		case v.Quality < 0 || v.Quality > 100:
			return &FieldError{at("quality"), "must be between 1 and 100"}
		}
		seen[v.Name] = true
	}
	return nil
}

func validFormat(f string) bool {
	for _, ok := range Formats {
		if f == ok {
			return true
		}
	}
	return false
}

func extension(format string) string {
	if format == "jpeg" {
		return "jpg"
	}
	return format
}
