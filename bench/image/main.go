// Command bench-image times kiln's standard image job against the tools
// people use for the same work, in one run on this machine: the libvips CLI
// (one command per output, each decoding again), ImageMagick (one process,
// one decode), pure Go (image/jpeg + x/image/draw CatmullRom) and the floor
// (one shrink-on-load decode plus the six encodes, nothing else).
//
// The standard job: a 12 MP JPEG (made here) to a 1600-wide JPEG q85, an
// 800-wide JPEG q85, an 800-wide WebP, a 200x200 attention-cropped
// thumbnail, an 800-wide grayscale JPEG and an 800-wide sepia JPEG.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	kimage "kiln/worker/image"
)

var standardJob = []kimage.Variant{
	{Name: "w1600", Width: 1600, Fit: "inside", Gravity: "centre", Format: "jpeg", Quality: 85},
	{Name: "w800", Width: 800, Fit: "inside", Gravity: "centre", Format: "jpeg", Quality: 85},
	{Name: "w800-webp", Width: 800, Fit: "inside", Gravity: "centre", Format: "webp", Quality: 80},
	{Name: "thumb", Width: 200, Height: 200, Fit: "cover", Gravity: "attention", Format: "jpeg", Quality: 85},
	{Name: "w800-gray", Width: 800, Fit: "inside", Gravity: "centre", Effect: "grayscale", Format: "jpeg", Quality: 85},
	{Name: "w800-sepia", Width: 800, Fit: "inside", Gravity: "centre", Effect: "sepia", Format: "jpeg", Quality: 85},
}

type measurement struct {
	system string
	ms     float64 // median per job
	rssMB  float64 // peak resident memory of the process(es) doing the work
}

func main() {
	runs := flag.Int("runs", 5, "jobs per contender; the median is reported")
	kilnd := flag.String("kilnd", "../bin/kilnd", "kilnd binary (its -image-worker role is what is timed)")
	goJob := flag.String("go-job", "", "internal: run the pure-Go job on this input and exit")
	flag.Parse()
	if *goJob != "" {
		if err := goCatmullRom(*goJob, flag.Arg(0)); err != nil {
			fail(err)
		}
		return
	}

	dir, err := os.MkdirTemp("", "bench-image-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "source.jpg")
	if err := makeSource(src, 4000, 3000); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "source: %s, 4000x3000 (12 MP)\n", src)

	var results []measurement
	add := func(m measurement, err error) {
		if err != nil {
			fail(fmt.Errorf("%s: %w", m.system, err))
		}
		fmt.Fprintf(os.Stderr, "%-14s %8.1f ms/job  peak RSS %6.1f MB\n", m.system, m.ms, m.rssMB)
		results = append(results, m)
	}
	// The other tools run first, while this process is small: Linux carries a
	// parent's peak RSS into a child's rusage across fork and exec.
	add(benchVipsCLI(src, dir, *runs))
	add(benchImageMagick(src, dir, *runs))
	add(benchGo(src, dir, *runs))
	add(benchKiln(*kilnd, src, dir, *runs))
	add(benchFloor(src, *runs))
	rate1, rate2, rateAll, err := kilnThroughput(*kilnd, src, dir, 4*(*runs))
	if err != nil {
		fail(err)
	}

	by := map[string]measurement{}
	fmt.Println()
	fmt.Printf("%-14s %12s %14s\n", "system", "ms per job", "peak RSS MB")
	for _, m := range results {
		by[m.system] = m
		fmt.Printf("%-14s %12.1f %14.1f\n", m.system, m.ms, m.rssMB)
	}
	k := by["kiln"]
	fmt.Printf("\nkiln: %.2fx faster than vips-cli, %.2fx than imagemagick, %.2fx than go-catmullrom (at %.0f%% of its peak memory), %.2fx the floor\n",
		by["vips-cli"].ms/k.ms, by["imagemagick"].ms/k.ms, by["go-catmullrom"].ms/k.ms, 100*k.rssMB/by["go-catmullrom"].rssMB, k.ms/by["floor"].ms)
	fmt.Printf("kiln: %.2f jobs/s with 1 worker, %.2f with 2 (%.2fx), one libvips thread each; %.2f with 1 worker using every CPU\n\n", rate1, rate2, rate2/rate1, rateAll)
	for _, m := range results {
		fmt.Printf("bench-image: system=%s ms_per_job=%.0f peak_rss_mb=%.0f\n", m.system, m.ms, m.rssMB)
	}
	fmt.Printf("bench-image: system=kiln workers=1 jobs_per_s=%.2f\n", rate1)
	fmt.Printf("bench-image: system=kiln workers=2 jobs_per_s=%.2f\n", rate2)
}

// makeSource writes a photo-like 12 MP JPEG: smooth gradients with noise and
// some shapes, so that encoders and the attention crop have real work.
func makeSource(path string, w, h int) error {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := uint8(r.IntN(24))
			c := color.RGBA{uint8(x*200/w) + n, uint8(y*180/h) + n, uint8((x+y)*120/(w+h)) + 60 + n, 255}
			if dx, dy := x-3*w/4, y-h/3; dx*dx+dy*dy < (h/8)*(h/8) {
				c = color.RGBA{230, 40 + n, 30, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func median(d []time.Duration) float64 {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[len(s)/2]) / float64(time.Millisecond)
}

// worker is one kilnd -image-worker process, driven by its real protocol.
type worker struct {
	cmd *exec.Cmd
	in  *json.Encoder
	out *json.Decoder
}

// startWorker starts a worker with libvips' thread count set as kilnd would
// for the number of workers running at once: the CPUs shared out.
func startWorker(kilnd string, sharing int) (*worker, error) {
	cmd := exec.Command(kilnd, "-image-worker")
	cmd.Env = append(os.Environ(), fmt.Sprintf("VIPS_CONCURRENCY=%d", max(1, runtime.NumCPU()/sharing)), "MALLOC_ARENA_MAX=2") // as kilnd's workers
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s -image-worker (make build): %w", kilnd, err)
	}
	return &worker{cmd: cmd, in: json.NewEncoder(in), out: json.NewDecoder(out)}, nil
}

func (w *worker) render(req kimage.RenderRequest) error {
	if err := w.in.Encode(req); err != nil {
		return err
	}
	var ans struct {
		Error *kimage.RenderError `json:"error"`
	}
	if err := w.out.Decode(&ans); err != nil {
		return err
	}
	if ans.Error != nil {
		return ans.Error
	}
	return nil
}

// peakRSS is the process's high-water resident size, in MB.
func (w *worker) peakRSS() float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.cmd.Process.Pid))
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			var kb float64
			fmt.Sscan(f[1], &kb)
			return kb / 1024
		}
	}
	return 0
}

func (w *worker) stop() {
	w.cmd.Process.Kill()
	w.cmd.Wait()
}

func benchKiln(kilnd, src, dir string, runs int) (measurement, error) {
	m := measurement{system: "kiln"}
	w, err := startWorker(kilnd, 1)
	if err != nil {
		return m, err
	}
	defer w.stop()
	var times []time.Duration
	for i := 0; i < runs+1; i++ {
		req := kimage.RenderRequest{Input: src, OutDir: filepath.Join(dir, "kiln", fmt.Sprint(i)), Variants: standardJob, Limits: kimage.DefaultImagesConfig().InputLimits}
		t := time.Now()
		if err := w.render(req); err != nil {
			return m, err
		}
		if i > 0 { // the first job also starts libvips
			times = append(times, time.Since(t))
		}
	}
	m.ms, m.rssMB = median(times), w.peakRSS()
	return m, nil
}

// kilnThroughput runs n jobs through one worker, then through two at once,
// each worker with one libvips thread, so that the figures show how worker
// processes scale; and through one worker with every CPU's thread, which is
// what kilnd gives a lone job.
func kilnThroughput(kilnd, src, dir string, n int) (one, two, oneAllThreads float64, err error) {
	rate := func(workers, sharing int) (float64, error) {
		ws := make([]*worker, workers)
		for i := range ws {
			w, err := startWorker(kilnd, sharing)
			if err != nil {
				return 0, err
			}
			defer w.stop()
			// warm up: libvips starts on the first job
			if err := w.render(kimage.RenderRequest{Input: src, OutDir: filepath.Join(dir, "warm"), Variants: standardJob, Limits: kimage.DefaultImagesConfig().InputLimits}); err != nil {
				return 0, err
			}
			ws[i] = w
		}
		t := time.Now()
		errs := make(chan error, workers)
		for i, w := range ws {
			go func() {
				for j := i; j < n; j += workers {
					if err := w.render(kimage.RenderRequest{Input: src, OutDir: filepath.Join(dir, "tp", fmt.Sprint(j)), Variants: standardJob, Limits: kimage.DefaultImagesConfig().InputLimits}); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range ws {
			if err := <-errs; err != nil {
				return 0, err
			}
		}
		return float64(n) / time.Since(t).Seconds(), nil
	}
	if one, err = rate(1, runtime.NumCPU()); err != nil {
		return
	}
	if two, err = rate(2, runtime.NumCPU()); err != nil {
		return
	}
	oneAllThreads, err = rate(1, 1)
	return
}

// runTimed runs commands one after another and returns the wall time and
// the largest peak RSS among them.
func runTimed(cmds [][]string) (time.Duration, float64, error) {
	t := time.Now()
	var peak float64
	for _, c := range cmds {
		cmd := exec.Command(c[0], c[1:]...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return 0, 0, fmt.Errorf("%v: %v: %s", c, err, stderr.String())
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, float64(ru.Maxrss)/1024)
		}
	}
	return time.Since(t), peak, nil
}

func repeat(runs int, cmds func(out string) [][]string, dir, name string) (measurement, error) {
	m := measurement{system: name}
	var times []time.Duration
	for i := 0; i < runs; i++ {
		out := filepath.Join(dir, name, fmt.Sprint(i))
		os.MkdirAll(out, 0o755)
		d, peak, err := runTimed(cmds(out))
		if err != nil {
			return m, err
		}
		times = append(times, d)
		m.rssMB = max(m.rssMB, peak)
	}
	m.ms = median(times)
	return m, nil
}

// benchVipsCLI makes the six files with libvips' own command-line tools:
// vipsthumbnail for the resizes and the crop, vips for the effects.
func benchVipsCLI(src, dir string, runs int) (measurement, error) {
	matrix := filepath.Join(dir, "sepia.mat")
	os.WriteFile(matrix, []byte("3 3\n0.393 0.769 0.189\n0.349 0.686 0.168\n0.272 0.534 0.131\n"), 0o644)
	return repeat(runs, func(out string) [][]string {
		t := func(name string) string { return filepath.Join(out, name) }
		return [][]string{
			{"vipsthumbnail", src, "-s", "1600x", "-o", t("w1600.jpg") + "[Q=85,strip]"},
			{"vipsthumbnail", src, "-s", "800x", "-o", t("w800.jpg") + "[Q=85,strip]"},
			{"vipsthumbnail", src, "-s", "800x", "-o", t("w800.webp") + "[Q=80,strip]"},
			{"vipsthumbnail", src, "-s", "200x200", "-m", "attention", "-o", t("thumb.jpg") + "[Q=85,strip]"},
			{"vipsthumbnail", src, "-s", "800x", "-o", t("g.v")},
			{"vips", "colourspace", t("g.v"), t("w800-gray.jpg") + "[Q=85,strip]", "b-w"},
			{"vips", "recomb", t("g.v"), t("s.v"), matrix},
			{"vips", "cast", t("s.v"), t("w800-sepia.jpg") + "[Q=85,strip]", "uchar"},
		}
	}, dir, "vips-cli")
}

// benchImageMagick makes the six files in one convert process, reading the
// source once; it has no attention crop, so the thumbnail is centre-cropped.
func benchImageMagick(src, dir string, runs int) (measurement, error) {
	convert := "/usr/bin/convert-im6.q16"
	if _, err := os.Stat(convert); err != nil {
		return measurement{system: "imagemagick"}, fmt.Errorf("%s not found: apt-get install imagemagick", convert)
	}
	return repeat(runs, func(out string) [][]string {
		t := func(name string) string { return filepath.Join(out, name) }
		return [][]string{{convert, src, "-strip", "-quality", "85",
			"(", "+clone", "-resize", "1600x", "-write", t("w1600.jpg"), "+delete", ")",
			"-resize", "800x",
			"(", "+clone", "-write", t("w800.jpg"), "+delete", ")",
			"(", "+clone", "-quality", "80", "-write", t("w800.webp"), "+delete", ")",
			"(", "+clone", "-colorspace", "Gray", "-write", t("w800-gray.jpg"), "+delete", ")",
			"(", "+clone", "-sepia-tone", "80%", "-write", t("w800-sepia.jpg"), "+delete", ")",
			"-resize", "200x200^", "-gravity", "center", "-extent", "200x200", t("thumb.jpg"),
		}}
	}, dir, "imagemagick")
}

func benchGo(src, dir string, runs int) (measurement, error) {
	self, err := os.Executable()
	if err != nil {
		return measurement{system: "go-catmullrom"}, err
	}
	return repeat(runs, func(out string) [][]string {
		return [][]string{{self, "-go-job", src, out}}
	}, dir, "go-catmullrom")
}

func benchFloor(src string, runs int) (measurement, error) {
	m := measurement{system: "floor"}
	var times []time.Duration
	for i := 0; i < runs+1; i++ {
		d, err := floorJob(context.Background(), src)
		if err != nil {
			return m, err
		}
		if i > 0 {
			times = append(times, d)
		}
	}
	m.ms = median(times)
	m.rssMB = selfPeakRSS()
	return m, nil
}

func selfPeakRSS() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-image:", err)
	os.Exit(1)
}
