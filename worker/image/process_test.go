package image

import (
	"context"
	"fmt"
	"image/gif"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/image/tiff"
	"kiln/worker/image/imagetest"
)

// testWorkerBinary is kiln-image-worker, built for these tests, so that
// the pictures are rendered as kilnd renders them: in real worker
// processes, over the real protocol, and the config check probes a real
// worker.
var testWorkerBinary string

func TestMain(m *testing.M) {
	os.Exit(imagetest.RunWithWorker(m, WorkerBinary, func(path string) { testWorkerBinary = path }))
}

// testWorkers is a pool of real worker processes under cfg, which the test
// may swap as a reload does.
func testWorkers(cfg ImagesConfig) (*Workers, *atomic.Pointer[ImagesConfig]) {
	current := &atomic.Pointer[ImagesConfig]{}
	current.Store(&cfg)
	return NewWorkers([]string{testWorkerBinary}, func() ImagesConfig { return *current.Load() }), current
}

// testPool is a pool of worker processes under the default [images]
// table for t, stopped at its end; it starts none until it renders.
func testPool(t testing.TB) *Workers {
	w, _ := testWorkers(DefaultImagesConfig())
	t.Cleanup(w.Close)
	return w
}

// renderInWorker renders req in a worker process of a pool of its own.
func renderInWorker(t testing.TB, req RenderRequest) (*Result, error) {
	return testPool(t).Render(context.Background(), req)
}

// Workers are replaced after recycle_after jobs, and when their resident
// size passes max_worker_rss.
func TestWorkersAreRecycled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := write(t, dir, "in.jpg", encodeJPEG(t, gradient(300, 200)))
	variants := []Variant{{Name: "a", Width: 50, Fit: "inside", Gravity: "centre", Format: "png"}}
	pids := func(cfg ImagesConfig, jobs int) []int {
		w, _ := testWorkers(cfg)
		defer w.Close()
		var out []int
		for i := 0; i < jobs; i++ {
			res, err := w.Render(context.Background(), RenderRequest{Input: in, OutDir: filepath.Join(dir, fmt.Sprint(i)), Variants: variants, Limits: cfg.InputLimits})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res.WorkerPID)
		}
		return out
	}
	lim := imagesFor(dir)
	lim.RecycleAfter = 2
	p := pids(lim, 5)
	if !(p[0] == p[1] && p[1] != p[2] && p[2] == p[3] && p[3] != p[4]) || p[0] == os.Getpid() {
		t.Errorf("recycle_after = 2: worker pids %v, want a new worker every two jobs", p)
	}
	lim = imagesFor(dir)
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
	lim := imagesFor(dir)
	lim.WorkerMemoryMax = 3 << 30
	w, _ := testWorkers(lim)
	defer w.Close()
	res, err := w.Render(context.Background(), RenderRequest{Input: in, OutDir: filepath.Join(dir, "o"), Variants: []Variant{{Name: "a", Width: 10, Fit: "inside", Gravity: "centre", Format: "png"}}, Limits: lim.InputLimits})
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

// A changed config reaches the worker processes: idle ones started under
// the old settings are gone as soon as the change is announced, and the
// next job runs in a worker started under the new ones. libvips takes its
// loader policy once per process, so this is what makes a reload that
// blocks SVG hold for the very next job.
func TestWorkersFollowAChangedConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	svg := write(t, dir, "x.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><rect width="20" height="20"/></svg>`))
	variants := []Variant{{Name: "a", Width: 10, Fit: "inside", Gravity: "centre", Format: "png"}}
	cfg := imagesFor(dir)
	cfg.AllowUntrustedLoaders = true
	w, current := testWorkers(cfg)
	defer w.Close()
	render := func(name string) (*Result, error) {
		return w.Render(context.Background(), RenderRequest{Input: svg, OutDir: filepath.Join(dir, name), Variants: variants, Limits: current.Load().InputLimits})
	}
	res, err := render("trusted")
	if err != nil {
		t.Fatalf("SVG with untrusted loaders allowed: %v", err)
	}
	old := res.WorkerPID
	if idle := w.IdlePIDs(); len(idle) != 1 || idle[0] != old {
		t.Fatalf("idle workers %v, want the one that ran the job (%d)", idle, old)
	}

	blocked := cfg
	blocked.AllowUntrustedLoaders = false
	current.Store(&blocked)
	w.ConfigChanged()
	if idle := w.IdlePIDs(); len(idle) != 0 {
		t.Fatalf("idle workers %v after the change, want none left from the old settings", idle)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", old)); !os.IsNotExist(err) {
		t.Fatalf("worker %d started under the old settings still exists (%v)", old, err)
	}
	if _, err := render("blocked"); err == nil || !strings.Contains(err.Error(), "blocked by [images] allow_untrusted_loaders = false") {
		t.Fatalf("SVG after blocking untrusted loaders: err = %v, want the loader policy named", err)
	}
}

// recycle_after changed on a running pool applies to the workers that
// follow the change.
func TestWorkersApplyAChangedRecycleAfter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := write(t, dir, "in.jpg", encodeJPEG(t, gradient(120, 80)))
	variants := []Variant{{Name: "a", Width: 10, Fit: "inside", Gravity: "centre", Format: "png"}}
	w, current := testWorkers(imagesFor(dir)) // recycle_after 200
	defer w.Close()
	pids := func(n int) []int {
		var out []int
		for i := 0; i < n; i++ {
			res, err := w.Render(context.Background(), RenderRequest{Input: in, OutDir: filepath.Join(dir, fmt.Sprint(len(out), n, i)), Variants: variants, Limits: current.Load().InputLimits})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res.WorkerPID)
		}
		return out
	}
	before := pids(3)
	if before[0] != before[1] || before[1] != before[2] {
		t.Fatalf("recycle_after 200: pids %v, want one worker", before)
	}
	every2 := imagesFor(dir)
	every2.RecycleAfter = 2
	current.Store(&every2)
	w.ConfigChanged()
	after := pids(4)
	if after[0] == before[2] || after[0] != after[1] || after[1] == after[2] || after[2] != after[3] {
		t.Fatalf("recycle_after 2 after the change: pids %v (before: %v), want a new worker, then a new one every two jobs", after, before)
	}
}
