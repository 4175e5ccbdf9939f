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

// workersOnOneThread is a pool of real worker processes whose libvips has
// one thread of its own, so that a decode runs on as many threads as the
// picture has CPUs.
func workersOnOneThread(t *testing.T, dir string) (*Workers, ImagesConfig) {
	t.Helper()
	cfg := imagesFor(dir)
	cfg.ThreadsPerWorker = 1
	w, _ := testWorkers(cfg)
	t.Cleanup(w.Close)
	return w, cfg
}

// The outputs of a picture are the same bytes however many CPUs it has:
// decoded on one libvips thread or several, its variants made one at a
// time or side by side.
func TestOutputsDoNotDependOnTheCPUsAPictureHas(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := write(t, dir, "in.jpg", encodeJPEG(t, gradient(1400, 1000)))
	w, cfg := workersOnOneThread(t, dir)
	made := map[int]map[string][]byte{}
	for _, cpus := range []int{1, 2, len(atOnceVariants)} {
		res, err := w.Render(context.Background(), RenderRequest{Input: in, OutDir: filepath.Join(dir, fmt.Sprint(cpus)), Variants: atOnceVariants, Limits: cfg.InputLimits, CPUs: cpus})
		if err != nil {
			t.Fatalf("%d CPUs: %v", cpus, err)
		}
		if s := res.Stages; s.DecodeThreads != cpus || s.VariantsAtOnce != cpus {
			t.Errorf("%d CPUs: decoded on %d threads, %d variants at once; want %d and %d", cpus, s.DecodeThreads, s.VariantsAtOnce, cpus, cpus)
		}
		made[cpus] = map[string][]byte{}
		for _, o := range res.Outputs {
			b, err := os.ReadFile(o.Path)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != o.Bytes {
				t.Errorf("%d CPUs: %s is %d bytes, the result says %d", cpus, o.Variant, len(b), o.Bytes)
			}
			made[cpus][o.Variant] = b
		}
		if len(made[cpus]) != len(atOnceVariants) {
			t.Fatalf("%d CPUs: %d outputs, want %d", cpus, len(made[cpus]), len(atOnceVariants))
		}
	}
	for cpus, outs := range made {
		for name, b := range outs {
			if !bytes.Equal(b, made[1][name]) {
				t.Errorf("%s made with %d CPUs differs from %s made with one (%d and %d bytes)", name, cpus, name, len(b), len(made[1][name]))
			}
		}
	}
}

// A picture rendered alone is decoded on every CPU and makes its variants
// on every CPU; with another picture rendering beside it, on its share of
// them.
func TestWorkersShareTheCPUsOutAmongPictures(t *testing.T) {
	t.Parallel()
	cpus := runtime.NumCPU()
	if cpus < 2 {
		t.Skip("one CPU: every picture has it, whatever else runs")
	}
	dir := t.TempDir()
	in := write(t, dir, "in.jpg", encodeJPEG(t, gradient(600, 400)))
	w, cfg := workersOnOneThread(t, dir)
	render := func(name string) *Stages {
		res, err := w.Render(context.Background(), RenderRequest{Input: in, OutDir: filepath.Join(dir, name), Variants: atOnceVariants, Limits: cfg.InputLimits})
		if err != nil {
			t.Fatal(err)
		}
		return res.Stages
	}
	if s := render("alone"); s.DecodeThreads != cpus || s.VariantsAtOnce != cpus {
		t.Errorf("a picture alone: decoded on %d threads, %d variants at once; want every CPU (%d)", s.DecodeThreads, s.VariantsAtOnce, cpus)
	}
	// Another picture in the pool's hands, as a second Render counts it.
	w.rendering.Add(1)
	s := render("beside")
	w.rendering.Add(-1)
	if want := cpus / 2; s.DecodeThreads != want || s.VariantsAtOnce != want {
		t.Errorf("a picture beside another: decoded on %d threads, %d variants at once; want its half of %d CPUs (%d)", s.DecodeThreads, s.VariantsAtOnce, cpus, want)
	}
}
