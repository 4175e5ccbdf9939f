package render

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"kiln/internal/durable"
	"kiln/worker/image/renderjob"
	"kiln/worker/image/vips"
)

// stageClock adds up stage times from several goroutines.
type stageClock struct {
	mu sync.Mutex
	s  renderjob.Stages
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (c *stageClock) add(f func(s *renderjob.Stages)) {
	c.mu.Lock()
	f(&c.s)
	c.mu.Unlock()
}

// Render checks the input against the limits, decodes it once (shrinking on
// load to the largest size any variant needs), and writes every variant
// atomically under OutDir. The same request always writes the same bytes to
// the same paths.
func Render(ctx context.Context, req renderjob.RenderRequest) (*renderjob.Result, error) {
	return render(ctx, req, nil)
}

// render is Render in a worker process (side), or in the caller's (nil).
func render(ctx context.Context, req renderjob.RenderRequest, side *workerSide) (_ *renderjob.Result, err error) {
	defer func() { err = permanentIfUnwritable(err) }()
	start := time.Now()
	if err := vips.Start(req.Limits.AllowUntrustedLoaders); err != nil {
		return nil, err
	}
	real, err := req.Limits.CheckInput(req.Input)
	if err != nil {
		return nil, &renderjob.RenderError{Msg: err.Error(), Permanent: errors.Is(err, renderjob.ErrInputRefused)}
	}
	clock := &stageClock{s: renderjob.Stages{EncodeMS: map[string]float64{}}}
	cpus := func() int {
		switch {
		case req.CPUs > 0:
			return req.CPUs
		case side != nil:
			return side.askCPUs()
		}
		return runtime.NumCPU()
	}
	readStart := time.Now()
	in, err := vips.ReadFile(real)
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	defer in.Free()
	buf := in.Bytes()
	clock.s.ReadMS = ms(time.Since(readStart))
	if !req.Limits.AllowUntrustedLoaders {
		if f := renderjob.UntrustedFormat(buf); f != "" {
			return nil, renderjob.Permanent("%s", renderjob.BlockedFormat(req.Input, f))
		}
	}
	hdr, err := vips.ReadHeader(buf)
	if err != nil {
		var blocked *vips.BlockedError
		switch {
		case errors.As(err, &blocked):
			return nil, renderjob.Permanent("%s", renderjob.BlockedFormat(req.Input, loaderFormat(blocked.Loader)))
		case errors.Is(err, vips.ErrUnknownFormat):
			return nil, renderjob.Permanent("%s is not a picture kiln reads: %s", req.Input, err)
		}
		return nil, renderjob.Permanent("decode %s: %s", req.Input, err)
	}
	srcW, srcH := hdr.Width, hdr.Height
	if pixels := int64(srcW) * int64(srcH); req.Limits.MaxPixels > 0 && pixels > req.Limits.MaxPixels {
		return nil, renderjob.Permanent("input %s is %dx%d = %d pixels, over max_pixels (%d)", req.Input, srcW, srcH, pixels, req.Limits.MaxPixels)
	}
	if hdr.Orientation >= 5 && hdr.Orientation <= 8 {
		srcW, srcH = srcH, srcW // EXIF says the picture is turned a quarter
	}

	plans := make([]plan, len(req.Variants))
	baseScale, enlarge := 0.0, false
	for i, v := range req.Variants {
		plans[i] = planVariant(v, srcW, srcH)
		baseScale = math.Max(baseScale, plans[i].scale)
		enlarge = enlarge || plans[i].scale > 1
	}
	baseW := max(1, int(math.Ceil(float64(srcW)*baseScale)))
	baseH := max(1, int(math.Ceil(float64(srcH)*baseScale)))
	jpegShrink := 1
	if sourceFormat(hdr.Loader) == "jpeg" && !enlarge {
		storedW, storedH := baseW, baseH
		if hdr.Orientation >= 5 && hdr.Orientation <= 8 {
			storedW, storedH = baseH, baseW
		}
		jpegShrink = vips.JPEGShrink(hdr.Width, hdr.Height, storedW, storedH)
	}
	// The base is the largest variant's size, not libjpeg's shrunk decode:
	// the resize from that decode runs in the decode's own pipeline, so
	// that a 4000-wide JPEG going to 1600 and 800 is held at 1600 (5.5
	// MiB), not at 2000 (8.6 MiB), while the variants are made from it;
	// the largest variant is then the base as it is, and the others are
	// resized from less. A picture with CPUs to itself decodes on as many
	// libvips threads, which resize strips while libjpeg decodes the next
	// ones: alone, it is done sooner than with the resize left to the
	// variants. (A second, smaller decode for the small variants, run
	// beside the large one, was tried: a lone picture came out no sooner,
	// and every picture cost 20 ms more CPU, which a busy machine pays in
	// throughput.)
	// The output directory is made (and its parent synced) while the
	// picture decodes.
	dirDone := make(chan error, 1)
	go func() {
		err := makeDir(req.OutDir)
		if err == nil {
			err = removeStaleTemps(req.OutDir)
		}
		dirDone <- err
	}()
	decodeThreads := 0 // libvips' own count
	if side != nil {
		decodeThreads = max(side.threads, cpus())
	}
	clock.s.DecodeThreads = decodeThreads
	decodeStart := time.Now()
	base, err := vips.Thumbnail(buf, baseW, baseH, enlarge, vips.Decode{JPEGShrink: jpegShrink, ToSRGB: hdr.ICC || hdr.CMYK, Threads: decodeThreads})
	in.Free() // the encoded input is not needed past the decode
	if err != nil {
		<-dirDone
		return nil, renderjob.Permanent("decode %s: %s", req.Input, err)
	}
	defer base.Close()
	res := &renderjob.Result{DecodeMS: time.Since(decodeStart).Milliseconds()}
	clock.s.DecodeMS = ms(time.Since(decodeStart))
	if err := <-dirDone; err != nil {
		return nil, err
	}
	// Asked again: the jobs of a burst have all been handed out by now.
	atOnce := cpus()
	clock.s.VariantsAtOnce = atOnce
	outs, err := renderAll(ctx, base, req.Variants, plans, sourceFormat(hdr.Loader), req.OutDir, atOnce, clock)
	if err != nil {
		return nil, err
	}
	res.Outputs = outs
	res.Stages = &clock.s
	res.ElapsedMS = time.Since(start).Milliseconds()
	return res, nil
}

// renderAll derives the variants from the shared, read-only base, atOnce
// of them at a time, whatever libvips' own thread count: each encoder runs
// on one thread, so a job alone on the machine makes as many at once as
// there are CPUs, or it would leave CPUs idle. When the other CPUs are
// busy with other jobs, a variant more at once gains nothing and holds its
// pipeline's buffers and its encoder's memory beside the others' (a
// 1600-wide JPEG's optimised Huffman coding alone keeps all its
// coefficients, 5.8 MiB): the daemon asks for fewer then. Variants of the
// same size share one resize, made by whichever variant needs it first;
// the costliest variants start first. Outputs keep the pipeline's order,
// and their bytes do not depend on the order in which they were made, nor
// on atOnce. Each output is written, fsynced and renamed as soon as it is
// encoded, beside the encodes that follow, so that a CPU does not wait on
// the disk; one fsync of the directory at the end makes all the renames
// durable before the job is reported done.
func renderAll(ctx context.Context, base *vips.Image, variants []renderjob.Variant, plans []plan, srcFormat, outDir string, atOnce int, clock *stageClock) ([]renderjob.Output, error) {
	start := time.Now()
	type sizedPicture struct {
		once sync.Once
		img  *vips.Image
		err  error
	}
	sized := map[geometryKey]*sizedPicture{}
	for i, v := range variants {
		if k := keyOf(v, plans[i]); sized[k] == nil {
			sized[k] = &sizedPicture{}
		}
	}
	defer func() {
		closed := map[*vips.Image]bool{base: true} // a size may be another's picture as it is
		for _, sp := range sized {
			if sp.img != nil && !closed[sp.img] {
				closed[sp.img] = true
				sp.img.Close()
			}
		}
	}()
	// A cropped variant is resized from the smallest whole-picture variant
	// at least twice its size, when there is one, rather than from the base:
	// a 200x200 thumbnail from the 800-wide picture costs a quarter of one
	// from the 1600-wide base, and the factor of two left for the last
	// resize keeps its quality.
	source := make([]int, len(variants))
	for i, v := range variants {
		source[i] = -1
		if v.Fit != "cover" {
			continue
		}
		for j, w := range variants {
			pj := plans[j]
			if w.Fit == "inside" && pj.outW >= 2*plans[i].outW && pj.outH >= 2*plans[i].outH && pj.outW < base.Width() &&
				(source[i] < 0 || pj.outW < plans[source[i]].outW) {
				source[i] = j
			}
		}
	}
	readers := map[geometryKey]int{} // variants made from each size, and sizes resized from it
	for i, v := range variants {
		readers[keyOf(v, plans[i])]++
		if j := source[i]; j >= 0 {
			readers[keyOf(variants[j], plans[j])]++
		}
	}
	var sizedFor func(i int) (*vips.Image, error)
	sizedFor = func(i int) (*vips.Image, error) {
		sp := sized[keyOf(variants[i], plans[i])]
		sp.once.Do(func() {
			from := base
			if j := source[i]; j >= 0 {
				if from, sp.err = sizedFor(j); sp.err != nil {
					return
				}
			}
			t := time.Now()
			sp.img, sp.err = geometry(from, variants[i], plans[i], readers[keyOf(variants[i], plans[i])] > 1)
			clock.add(func(s *renderjob.Stages) { s.ResizeMS += ms(time.Since(t)) })
		})
		return sp.img, sp.err
	}
	order := make([]int, len(variants))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return cost(variants[order[a]], plans[order[a]]) > cost(variants[order[b]], plans[order[b]])
	})
	outs := make([]renderjob.Output, len(variants))
	writeErrs := make([]error, len(variants))
	var writes sync.WaitGroup
	err := parallel(ctx, len(variants), atOnce, func(n int) error {
		i := order[n]
		img, err := sizedFor(i)
		if err != nil {
			return fmt.Errorf("variant %s: %w", variants[i].Name, err)
		}
		enc, out, err := encodeOutput(img, variants[i], srcFormat, clock)
		if err != nil {
			return err
		}
		writes.Add(1)
		go func() {
			defer writes.Done()
			defer enc.Free()
			outs[i], writeErrs[i] = writeOutput(enc, out, outDir, start, clock)
		}()
		return nil
	})
	writes.Wait()
	for _, werr := range writeErrs {
		if err == nil {
			err = werr
		}
	}
	if err != nil {
		return nil, err
	}
	t := time.Now()
	if err := durable.SyncDir(outDir); err != nil {
		return nil, err
	}
	clock.add(func(s *renderjob.Stages) { s.WriteMS += ms(time.Since(t)) })
	return outs, nil
}

// cost ranks variants by how long they take to make, roughly: pixels out,
// weighted by how slow the encoder is per pixel.
func cost(v renderjob.Variant, p plan) float64 {
	w := 1.0
	switch v.Format {
	case "webp":
		w = 6
	case "avif":
		w = 20
	case "png":
		w = 3
	}
	return w * float64(p.outW) * float64(p.outH)
}

// parallel runs do(0..n-1), in order, on k goroutines, and returns the
// first error.
func parallel(ctx context.Context, n, k int, do func(i int) error) error {
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(k, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = do(i)
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// plan is what one variant needs from the source.
type plan struct {
	scale          float64 // of the source that the variant needs at most
	outW, outH     int     // the variant's size
	hscale, vscale float64 // exact: per axis
}

func planVariant(v renderjob.Variant, w, h int) plan {
	fw, fh := float64(w), float64(h)
	clamp := func(s float64) float64 {
		if !v.Enlarge {
			return math.Min(s, 1)
		}
		return s
	}
	switch v.Fit {
	case "cover":
		s := clamp(math.Max(float64(v.Width)/fw, float64(v.Height)/fh))
		return plan{scale: s, outW: min(v.Width, int(math.Round(fw*s))), outH: min(v.Height, int(math.Round(fh*s)))}
	case "exact":
		hs, vs := clamp(float64(v.Width)/fw), clamp(float64(v.Height)/fh)
		return plan{scale: math.Max(hs, vs), outW: max(1, int(math.Round(fw*hs))), outH: max(1, int(math.Round(fh*vs))), hscale: hs, vscale: vs}
	}
	s := math.Inf(1)
	if v.Width > 0 {
		s = float64(v.Width) / fw
	}
	if v.Height > 0 {
		s = math.Min(s, float64(v.Height)/fh)
	}
	s = clamp(s)
	return plan{scale: s, outW: max(1, int(math.Round(fw*s))), outH: max(1, int(math.Round(fh*s)))}
}

// step replaces *img with the result of op, freeing the previous
// intermediate (never the shared base).
type chain struct {
	base, img *vips.Image
}

func (c *chain) step(what string, op func(*vips.Image) (*vips.Image, error)) error {
	next, err := op(c.img)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if c.img != c.base {
		c.img.Close()
	}
	c.img = next
	return nil
}

func (c *chain) close() {
	if c.img != c.base {
		c.img.Close()
	}
}

// geometryKey identifies what a variant's resize and crop make, so that
// variants differing only in effect or format share one.
type geometryKey struct {
	fit, gravity string
	w, h         int
}

func keyOf(v renderjob.Variant, p plan) geometryKey {
	return geometryKey{fit: v.Fit, gravity: v.Gravity, w: p.outW, h: p.outH}
}

// geometry resizes and crops the base to the variant's size, in memory.
// A size that more than one variant reads (shared) is computed into memory
// once; one read by a single variant stays a pipeline that its encoder
// pulls from the base, without a picture-sized copy in between.
func geometry(base *vips.Image, v renderjob.Variant, p plan, shared bool) (*vips.Image, error) {
	c := &chain{base: base, img: base}
	bw, bh := float64(base.Width()), float64(base.Height())
	var err error
	switch v.Fit {
	case "exact":
		hs, vs := float64(p.outW)/bw, float64(p.outH)/bh
		if hs != 1 || vs != 1 {
			err = c.step("resize", func(i *vips.Image) (*vips.Image, error) { return i.Resize(hs, vs) })
		}
	case "cover":
		s := math.Max(float64(p.outW)/bw, float64(p.outH)/bh)
		if s != 1 {
			err = c.step("resize", func(i *vips.Image) (*vips.Image, error) { return i.Resize(s, s) })
		}
		if err == nil && (c.img.Width() != p.outW || c.img.Height() != p.outH) {
			if c.img != base && (v.Gravity == "attention" || v.Gravity == "entropy") {
				// smartcrop reads its input several times over: the resize
				// is made once, not once per pass.
				err = c.step("keep in memory", (*vips.Image).Materialize)
			}
			if err == nil {
				err = c.step("crop", func(i *vips.Image) (*vips.Image, error) { return crop(i, p.outW, p.outH, v.Gravity) })
			}
		}
	default:
		// The base may be a pixel taller or wider than the variant's
		// aspect (libjpeg rounds a shrunk size up): the variant's size is
		// the plan's, so both sides are scaled to it.
		hs, vs := float64(p.outW)/bw, float64(p.outH)/bh
		if p.outW != base.Width() || p.outH != base.Height() {
			err = c.step("resize", func(i *vips.Image) (*vips.Image, error) { return i.Resize(hs, vs) })
		}
	}
	if err == nil && c.img != base && shared {
		err = c.step("keep in memory", (*vips.Image).Materialize)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c.img, nil
}

// encodeOutput applies a variant's effects to its sized picture and encodes
// it; the output is filled in but for its path and time.
func encodeOutput(sized *vips.Image, v renderjob.Variant, srcFormat string, clock *stageClock) (*vips.Encoded, renderjob.Output, error) {
	encodeStart := time.Now()
	c := &chain{base: sized, img: sized}
	defer c.close()
	var err error
	switch v.Effect {
	case "grayscale":
		err = c.step("grayscale", (*vips.Image).Grayscale)
	case "sepia":
		err = c.step("sepia", (*vips.Image).Sepia)
	}
	if err == nil && v.Blur > 0 {
		err = c.step("blur", func(i *vips.Image) (*vips.Image, error) { return i.Blur(v.Blur) })
	}
	if err == nil && v.Sharpen {
		err = c.step("sharpen", (*vips.Image).Sharpen)
	}
	if err != nil {
		return nil, renderjob.Output{}, fmt.Errorf("variant %s: %w", v.Name, err)
	}
	format := v.Format
	if format == "" {
		format = srcFormat
	}
	opts := vips.EncodeOptions{Format: format, Quality: v.Quality, Progressive: v.Progressive, Compression: -1, Lossless: v.Lossless, KeepMetadata: v.KeepMetadata}
	if v.Compression != nil {
		opts.Compression = *v.Compression
	}
	enc, err := c.img.Encode(opts)
	if err != nil {
		// A variant that keeps its source's format names none that the
		// config check could try: an encoder missing here is said as the
		// check says it, and no retry can cure it.
		if missing := canEncodeHere(format); missing != nil {
			return nil, renderjob.Output{}, renderjob.Permanent("variant %s: %s", v.Name, renderjob.EncoderMissing(format, missing))
		}
		return nil, renderjob.Output{}, fmt.Errorf("variant %s: encode %s: %w", v.Name, format, err)
	}
	clock.add(func(s *renderjob.Stages) { s.EncodeMS[v.Name] = ms(time.Since(encodeStart)) })
	return enc, renderjob.Output{Variant: v.Name, Format: format, Width: c.img.Width(), Height: c.img.Height(), Bytes: enc.Len()}, nil
}

// writeOutput writes an encoded variant atomically under outDir.
func writeOutput(enc *vips.Encoded, out renderjob.Output, outDir string, start time.Time, clock *stageClock) (renderjob.Output, error) {
	writeStart := time.Now()
	out.Path = filepath.Join(outDir, out.Variant+"."+renderjob.Extension(out.Format))
	if err := durable.WriteFile(out.Path, enc.Bytes(), 0o644); err != nil {
		return renderjob.Output{}, fmt.Errorf("variant %s: %w", out.Variant, err)
	}
	clock.add(func(s *renderjob.Stages) { s.WriteMS += ms(time.Since(writeStart)) })
	out.ElapsedMS = time.Since(start).Milliseconds()
	return out, nil
}

// crop cuts w x h out of img where gravity says.
func crop(img *vips.Image, w, h int, gravity string) (*vips.Image, error) {
	switch gravity {
	case "attention":
		return img.SmartCrop(w, h, vips.InterestAttention)
	case "entropy":
		return img.SmartCrop(w, h, vips.InterestEntropy)
	}
	w, h = min(w, img.Width()), min(h, img.Height())
	left, top := (img.Width()-w)/2, (img.Height()-h)/2
	switch gravity {
	case "north":
		top = 0
	case "south":
		top = img.Height() - h
	case "west":
		left = 0
	case "east":
		left = img.Width() - w
	}
	return img.Crop(left, top, w, h)
}
