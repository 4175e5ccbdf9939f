package image

import (
	"context"
	"errors"
	"kiln/worker/image/imagetest"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRender feeds arbitrary bytes to the decode-and-process entry point, as
// a hostile upload would. It must return (an error is fine) and never crash,
// hang or write outside its output directory. The seed corpus lives in
// testdata/fuzz/FuzzRender; `make fuzz` runs it for a bounded time.
func FuzzRender(f *testing.F) {
	f.Add(encodeJPEG(&testing.T{}, gradient(32, 24)))
	f.Add(imagetest.PNGBomb(30000, 30000))
	f.Add(withExif(encodeJPEG(&testing.T{}, gradient(16, 16)), 6))
	dir := f.TempDir()
	variants := []Variant{
		{Name: "inside", Width: 20, Fit: "inside", Gravity: "centre", Format: "jpeg"},
		{Name: "cover", Width: 8, Height: 8, Fit: "cover", Gravity: "attention", Effect: "sepia", Format: "png"},
		{Name: "exact", Width: 10, Height: 5, Fit: "exact", Gravity: "centre", Effect: "grayscale", Blur: 1, Format: "webp"},
	}
	limits := DefaultImagesConfig().InputLimits
	limits.MaxPixels = 4_000_000 // keep each run quick
	// Each input is written under the temporary directory.
	limits.AllowedInputRoots = []string{os.TempDir()}
	// Through worker processes, as kilnd renders: a crash is a worker
	// dead, not a failed render, and fails the run.
	w, _ := testWorkers(DefaultImagesConfig())
	f.Cleanup(w.Close)
	f.Fuzz(func(t *testing.T, data []byte) {
		in := filepath.Join(t.TempDir(), "input")
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out")
		res, err := w.Render(context.Background(), RenderRequest{Input: in, OutDir: out, Variants: variants, Limits: limits})
		var re *RenderError
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("%v", err)
		}
		if err != nil {
			return
		}
		for _, o := range res.Outputs {
			if filepath.Dir(o.Path) != out {
				t.Fatalf("output %s outside %s", o.Path, out)
			}
			if o.Width <= 0 || o.Height <= 0 || o.Bytes <= 0 {
				t.Fatalf("empty output %+v", o)
			}
		}
	})
}
