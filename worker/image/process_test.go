package image

import (
	"context"
	"fmt"
	"image/gif"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/tiff"
)

// The test binary doubles as an image worker process, so that the worker
// pool is tested with real processes and the real protocol.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-image-worker-for-test" {
		if err := ServeWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testWorkers(limits Limits) *Workers {
	return NewWorkers([]string{os.Args[0], "-image-worker-for-test"}, limits)
}

// Workers are replaced after recycle_after jobs, and when their resident
// size passes max_worker_rss.
func TestWorkersAreRecycled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := write(t, dir, "in.jpg", encodeJPEG(t, gradient(300, 200)))
	variants := []Variant{{Name: "a", Width: 50, Fit: "inside", Gravity: "centre", Format: "png"}}
	pids := func(limits Limits, jobs int) []int {
		w := testWorkers(limits)
		defer w.Close()
		var out []int
		for i := 0; i < jobs; i++ {
			res, err := w.Render(context.Background(), RenderRequest{Input: in, OutDir: filepath.Join(dir, fmt.Sprint(i)), Variants: variants, Limits: limits})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res.WorkerPID)
		}
		return out
	}
	lim := DefaultLimits()
	lim.RecycleAfter = 2
	p := pids(lim, 5)
	if !(p[0] == p[1] && p[1] != p[2] && p[2] == p[3] && p[3] != p[4]) || p[0] == os.Getpid() {
		t.Errorf("recycle_after = 2: worker pids %v, want a new worker every two jobs", p)
	}
	lim = DefaultLimits()
	lim.MaxWorkerRSS = 1 // every worker is over it after its first job
	p = pids(lim, 3)
	if p[0] == p[1] || p[1] == p[2] {
		t.Errorf("max_worker_rss exceeded: worker pids %v, want a new worker every job", p)
	}
}

// Every input format kiln reads decodes: PNG, WebP, AVIF and TIFF made
// here, and the first frame of a GIF.
func TestInputFormats(t *testing.T) {
	t.Parallel()
	b := setup(t, Variant{Name: "src", Width: 40, Format: "png"})
	jpg := write(t, b.dir, "in.jpg", encodeJPEG(t, gradient(120, 80)))
	mk := setup(t, Variant{Name: "png", Width: 120, Format: "png"}, Variant{Name: "webp", Width: 120, Format: "webp"}, Variant{Name: "avif", Width: 120, Format: "avif"})
	made := mk.mustRun(t, jpg)

	gifPath := filepath.Join(b.dir, "anim.gif")
	f, _ := os.Create(gifPath)
	frames := &gif.GIF{Image: []*image_Paletted{palettedOf(gradient(120, 80)), palettedOf(flat(120, 80, rgba(0, 0, 0)))}, Delay: []int{10, 10}}
	if err := gif.EncodeAll(f, frames); err != nil {
		t.Fatal(err)
	}
	f.Close()
	tifPath := filepath.Join(b.dir, "in.tif")
	f, _ = os.Create(tifPath)
	if err := tiff.Encode(f, gradient(120, 80), nil); err != nil {
		t.Fatal(err)
	}
	f.Close()

	for name, path := range map[string]string{"png": made["png"].Path, "webp": made["webp"].Path, "avif": made["avif"].Path, "gif": gifPath, "tiff": tifPath} {
		res, err := b.run(t, name, path)
		if err != nil {
			t.Errorf("%s input: %v", name, err)
			continue
		}
		if o := res.Outputs[0]; o.Width != 40 || o.Height != 27 {
			t.Errorf("%s input: output %dx%d, want 40x27", name, o.Width, o.Height)
		}
	}
}

// A worker puts itself under worker_memory_max (an address-space limit)
// before it takes a job.
func TestWorkerRunsUnderTheMemoryLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := write(t, dir, "in.jpg", encodeJPEG(t, gradient(100, 100)))
	lim := DefaultLimits()
	lim.WorkerMemoryMax = 3 << 30
	w := testWorkers(lim)
	defer w.Close()
	res, err := w.Render(context.Background(), RenderRequest{Input: in, OutDir: filepath.Join(dir, "o"), Variants: []Variant{{Name: "a", Width: 10, Fit: "inside", Gravity: "centre", Format: "png"}}, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", res.WorkerPID))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(limits), "Max address space         3221225472           3221225472") {
		t.Fatalf("worker %d limits:\n%s", res.WorkerPID, limits)
	}
}
