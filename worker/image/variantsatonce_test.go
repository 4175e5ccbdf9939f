package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// atOnceVariants are sizes shared by several variants (a resize kept in
// memory, a crop made from a smaller variant), effects and every encoder
// the worker has in-process, so that the order variants are made in could
// show in their bytes if it mattered.
var atOnceVariants = []Variant{
	{Name: "big", Width: 640, Fit: "inside", Gravity: "centre", Format: "jpeg", Quality: 80},
	{Name: "mid", Width: 320, Fit: "inside", Gravity: "centre", Format: "jpeg", Quality: 80},
	{Name: "mid-webp", Width: 320, Fit: "inside", Gravity: "centre", Format: "webp", Quality: 75},
	{Name: "mid-gray", Width: 320, Fit: "inside", Gravity: "centre", Effect: "grayscale", Format: "png"},
	{Name: "thumb", Width: 100, Height: 100, Fit: "cover", Gravity: "attention", Format: "jpeg", Quality: 80},
	{Name: "square", Width: 150, Height: 150, Fit: "cover", Gravity: "centre", Effect: "sepia", Format: "jpeg", Quality: 85},
}

// The outputs of a picture are the same bytes however many variants are
// made at once.
func TestOutputsDoNotDependOnVariantsAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := write(t, dir, "in.jpg", encodeJPEG(t, gradient(1400, 1000)))
	limits := imagesFor(dir).InputLimits
	made := map[int]map[string][]byte{}
	for _, atOnce := range []int{1, 2, len(atOnceVariants)} {
		res, err := Render(context.Background(), RenderRequest{Input: in, OutDir: filepath.Join(dir, fmt.Sprint(atOnce)), Variants: atOnceVariants, Limits: limits, VariantsAtOnce: atOnce})
		if err != nil {
			t.Fatalf("%d at once: %v", atOnce, err)
		}
		if got := res.Stages.VariantsAtOnce; got != atOnce {
			t.Errorf("asked for %d at once, the result says %d", atOnce, got)
		}
		made[atOnce] = map[string][]byte{}
		for _, o := range res.Outputs {
			b, err := os.ReadFile(o.Path)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != o.Bytes {
				t.Errorf("%d at once: %s is %d bytes, the result says %d", atOnce, o.Variant, len(b), o.Bytes)
			}
			made[atOnce][o.Variant] = b
		}
		if len(made[atOnce]) != len(atOnceVariants) {
			t.Fatalf("%d at once: %d outputs, want %d", atOnce, len(made[atOnce]), len(atOnceVariants))
		}
	}
	for atOnce, outs := range made {
		for name, b := range outs {
			if !bytes.Equal(b, made[1][name]) {
				t.Errorf("%s made %d at once differs from %s made one at a time (%d and %d bytes)", name, atOnce, name, len(b), len(made[1][name]))
			}
		}
	}
}

// A picture rendered alone makes its variants on every CPU; with another
// picture rendering beside it, on its share of them.
func TestWorkersShareTheCPUsOutAmongPictures(t *testing.T) {
	t.Parallel()
	cpus := runtime.NumCPU()
	if cpus < 2 {
		t.Skip("one CPU: every picture makes one variant at a time")
	}
	dir := t.TempDir()
	in := write(t, dir, "in.jpg", encodeJPEG(t, gradient(600, 400)))
	cfg := imagesFor(dir)
	w, _ := testWorkers(cfg)
	defer w.Close()
	render := func(name string) int {
		res, err := w.Render(context.Background(), RenderRequest{Input: in, OutDir: filepath.Join(dir, name), Variants: atOnceVariants, Limits: cfg.InputLimits})
		if err != nil {
			t.Fatal(err)
		}
		return res.Stages.VariantsAtOnce
	}
	if got := render("alone"); got != cpus {
		t.Errorf("a picture alone made %d variants at once, want one per CPU (%d)", got, cpus)
	}
	// Another picture in the pool's hands, as a second Render counts it.
	w.rendering.Add(1)
	got := render("beside")
	w.rendering.Add(-1)
	if want := cpus / 2; got != want {
		t.Errorf("a picture beside another made %d variants at once, want its half of %d CPUs (%d)", got, cpus, want)
	}
}
