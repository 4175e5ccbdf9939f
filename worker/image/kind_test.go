package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"kiln/worker/image/imagetest"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kiln/worker"
	"kiln/worker/image/renderjob"
)

type imageBundle struct {
	dir  string
	out  string
	kind *JobKind
}

func setup(t *testing.T, variants ...Variant) *imageBundle {
	t.Helper()
	dir := t.TempDir()
	b := &imageBundle{dir: dir, out: filepath.Join(dir, "out")}
	p := Pipeline{Queue: "q", OutputDir: b.out, Variants: variants}
	p.FillDefaults()
	if problems := p.Check(); len(problems) > 0 {
		t.Fatal(problems[0])
	}
	// Pictures come from this test's temporary directories, of which dir
	// is one: another bundle's outputs may be this one's inputs.
	settings := Settings{Pipelines: map[string]Pipeline{"p": p}, Images: imagesFor(filepath.Dir(dir))}
	b.kind = NewKind(func() Settings { return settings }, testPool(t))
	return b
}

func (b *imageBundle) run(t *testing.T, id, input string) (Result, error) {
	t.Helper()
	payload, _ := json.Marshal(Payload{Pipeline: "p", Input: input})
	raw, err := b.kind.Handle(context.Background(), &worker.JobRecord{ID: id, Payload: payload})
	var res Result
	if err == nil {
		if jerr := json.Unmarshal(raw, &res); jerr != nil {
			t.Fatal(jerr)
		}
	}
	return res, err
}

func (b *imageBundle) mustRun(t *testing.T, input string) map[string]Output {
	t.Helper()
	res, err := b.run(t, "job", input)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Output{}
	for _, o := range res.Outputs {
		out[o.Variant] = o
	}
	return out
}

func TestVariantsHaveTheirSizesAndFormats(t *testing.T) {
	t.Parallel()
	b := setup(t,
		Variant{Name: "w600", Width: 600, Format: "jpeg", Quality: 85, Progressive: true},
		Variant{Name: "box", Width: 200, Height: 200, Format: "png"},
		Variant{Name: "h100", Height: 100, Format: "webp", Lossless: true},
		Variant{Name: "huge", Width: 5000, Format: "jpeg"},
		Variant{Name: "big", Width: 2400, Enlarge: true, Format: "jpeg"},
		Variant{Name: "cover", Width: 200, Height: 200, Fit: "cover", Format: "jpeg"},
		Variant{Name: "exact", Width: 300, Height: 100, Fit: "exact", Format: "jpeg"},
		Variant{Name: "av", Width: 320, Format: "avif", Quality: 50},
		Variant{Name: "same", Width: 100}, // keeps the source's format
	)
	in := write(t, b.dir, "in.jpg", encodeJPEG(t, gradient(1200, 800)))
	out := b.mustRun(t, in)
	want := map[string]struct {
		w, h   int
		format string
	}{
		"w600": {600, 400, "jpeg"}, "box": {200, 133, "png"}, "h100": {150, 100, "webp"},
		"huge": {1200, 800, "jpeg"}, "big": {2400, 1600, "jpeg"}, "cover": {200, 200, "jpeg"},
		"exact": {300, 100, "jpeg"}, "av": {320, 213, "avif"}, "same": {100, 67, "jpeg"},
	}
	for name, w := range want {
		o, ok := out[name]
		if !ok {
			t.Errorf("%s: no output", name)
			continue
		}
		if o.Width != w.w || o.Height != w.h || o.Format != w.format {
			t.Errorf("%s: %dx%d %s, want %dx%d %s", name, o.Width, o.Height, o.Format, w.w, w.h, w.format)
		}
		if filepath.Dir(o.Path) != filepath.Join(b.out, "job") || !strings.HasSuffix(o.Path, "/"+name+"."+renderjob.Extension(w.format)) {
			t.Errorf("%s written to %s", name, o.Path)
		}
		st, err := os.Stat(o.Path)
		if err != nil || int(st.Size()) != o.Bytes {
			t.Errorf("%s: result says %d bytes, file: %v", name, o.Bytes, err)
		}
		if w.format != "avif" {
			if got, err := sniff(o.Path); err != nil || got != w.format {
				t.Errorf("%s: file is %q (%v), want %s", name, got, err, w.format)
			}
		}
	}
	f, _ := os.Open(out["box"].Path)
	defer f.Close()
	if cfg, err := png.DecodeConfig(f); err != nil || cfg.Width != 200 || cfg.Height != 133 {
		t.Errorf("box.png decodes as %dx%d (%v)", cfg.Width, cfg.Height, err)
	}
}

func TestExifOrientationIsApplied(t *testing.T) {
	t.Parallel()
	b := setup(t, Variant{Name: "w100", Width: 100, Format: "jpeg"})
	// Stored landscape 400x200; orientation 6 says "turn it a quarter":
	// shown portrait 200x400.
	in := write(t, b.dir, "turned.jpg", withExif(encodeJPEG(t, gradient(400, 200)), 6))
	o := b.mustRun(t, in)["w100"]
	if o.Width != 100 || o.Height != 200 {
		t.Fatalf("output %dx%d, want 100x200 (upright)", o.Width, o.Height)
	}
}

func TestMetadataIsStrippedUnlessKept(t *testing.T) {
	t.Parallel()
	b := setup(t, Variant{Name: "plain", Width: 100, Format: "jpeg"}, Variant{Name: "kept", Width: 100, Format: "jpeg", KeepMetadata: true})
	in := write(t, b.dir, "exif.jpg", withExif(encodeJPEG(t, gradient(300, 200)), 1))
	out := b.mustRun(t, in)
	plain, _ := os.ReadFile(out["plain"].Path)
	kept, _ := os.ReadFile(out["kept"].Path)
	if bytes.Contains(plain, []byte("Exif\x00\x00")) {
		t.Error("EXIF left in a variant without keep_metadata")
	}
	if !bytes.Contains(kept, []byte("Exif\x00\x00")) {
		t.Error("EXIF dropped from a variant with keep_metadata = true")
	}
}

func TestGrayscaleHasEqualChannels(t *testing.T) {
	t.Parallel()
	b := setup(t, Variant{Name: "g", Width: 200, Effect: "grayscale", Format: "jpeg"})
	in := write(t, b.dir, "c.jpg", encodeJPEG(t, gradient(400, 300)))
	img := decodeJPEG(t, b.mustRun(t, in)["g"].Path)
	for y := 0; y < img.Bounds().Dy(); y += 7 {
		for x := 0; x < img.Bounds().Dx(); x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r != g || g != bl {
				t.Fatalf("pixel (%d,%d) = %d,%d,%d: not gray", x, y, r>>8, g>>8, bl>>8)
			}
		}
	}
}

func TestSepiaTone(t *testing.T) {
	t.Parallel()
	b := setup(t, Variant{Name: "s", Width: 100, Effect: "sepia", Format: "png"})
	in := write(t, b.dir, "gray.jpg", encodeJPEG(t, flat(200, 200, color.RGBA{128, 128, 128, 255})))
	img := decodePNG(t, b.mustRun(t, in)["s"].Path)
	r, g, bl := meanRGB(img, img.Bounds())
	// The sepia matrix on (128,128,128): 128 times each row's sum.
	for name, got := range map[string][2]float64{"red": {r, 128 * 1.351}, "green": {g, 128 * 1.203}, "blue": {bl, 128 * 0.937}} {
		if math.Abs(got[0]-got[1]) > 6 {
			t.Errorf("sepia %s = %.1f, want %.1f ± 6", name, got[0], got[1])
		}
	}
	if !(r > g && g > bl) {
		t.Errorf("not a sepia tone: %.0f,%.0f,%.0f", r, g, bl)
	}
}

// A thumbnail cropped with attention keeps the salient part: a bright red
// patch near the right edge of a dull picture, which a centre crop loses.
func TestAttentionCropKeepsTheSalientRegion(t *testing.T) {
	t.Parallel()
	b := setup(t,
		Variant{Name: "attention", Width: 100, Height: 100, Fit: "cover", Gravity: "attention", Format: "png"},
		Variant{Name: "centre", Width: 100, Height: 100, Fit: "cover", Format: "png"},
	)
	src := flat(600, 200, color.RGBA{90, 100, 90, 255})
	for y := 60; y < 140; y++ {
		for x := 520; x < 590; x++ {
			src.Set(x, y, color.RGBA{250, 20, 20, 255})
		}
	}
	out := b.mustRun(t, write(t, b.dir, "scene.jpg", encodeJPEG(t, src)))
	// After scaling by 0.5 the patch is 35x40 = 1400 pixels.
	redPixels := func(name string) int {
		img := decodePNG(t, out[name].Path)
		n := 0
		for y := 0; y < img.Bounds().Dy(); y++ {
			for x := 0; x < img.Bounds().Dx(); x++ {
				r, g, _, _ := img.At(x, y).RGBA()
				if r>>8 > 200 && g>>8 < 80 {
					n++
				}
			}
		}
		return n
	}
	if a, c := redPixels("attention"), redPixels("centre"); a < 1000 || c != 0 {
		t.Fatalf("red pixels kept: attention crop %d (want most of 1400), centre crop %d (want 0)", a, c)
	}
}

// At-least-once delivery means a job can run twice: it must write the same
// bytes to the same paths, and leave no temp files.
func TestRerunIsByteIdentical(t *testing.T) {
	t.Parallel()
	b := setup(t, Variant{Name: "a", Width: 300, Format: "jpeg"}, Variant{Name: "b", Width: 100, Height: 100, Fit: "cover", Gravity: "attention", Format: "webp"})
	in := write(t, b.dir, "in.jpg", encodeJPEG(t, gradient(640, 480)))
	first := b.mustRun(t, in)
	contents := map[string][]byte{}
	for _, o := range first {
		contents[o.Path], _ = os.ReadFile(o.Path)
	}
	for _, o := range b.mustRun(t, in) {
		if now, _ := os.ReadFile(o.Path); !bytes.Equal(now, contents[o.Path]) {
			t.Errorf("%s differs between runs", o.Path)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(b.out, "job")); len(entries) != 2 {
		t.Errorf("output dir holds %d entries, want exactly a.jpg and b.webp", len(entries))
	}
}

// A worker killed mid-write leaves a temp file; the next attempt of the same
// job clears it.
func TestRerunClearsTempFilesOfAKilledAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, Variant{Name: "a", Width: 50, Format: "png"})
	in := write(t, b.dir, "in.jpg", encodeJPEG(t, gradient(100, 100)))
	dir := filepath.Join(b.out, "job")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, ".a.png.tmp123"), []byte("half"), 0o644)
	b.mustRun(t, in)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "a.png" {
		t.Fatalf("output dir holds %v, want only a.png", entries)
	}
}

// Each bad input: a clear error, permanent (no retry), naming the input.
func TestBadPicturesFailPermanentlyWithTheReason(t *testing.T) {
	t.Parallel()
	b := setup(t, Variant{Name: "a", Width: 100, Format: "jpeg"})
	roots := t.TempDir()
	allowed := filepath.Join(roots, "uploads")
	os.MkdirAll(allowed, 0o755)
	good := encodeJPEG(t, gradient(300, 200))
	cases := map[string]struct {
		input  string
		limits func(*InputLimits)
		want   string
	}{
		"truncated jpeg": {write(t, b.dir, "cut.jpg", good[:len(good)/2]), nil, "cut.jpg: the picture is damaged or cut short (libvips: "},
		"garbage named jpg": {write(t, b.dir, "garbage.jpg", []byte("this is not a picture at all")), nil,
			"garbage.jpg is not a picture kiln reads: no libvips loader here knows its format"},
		"decompression bomb": {write(t, b.dir, "bomb.png", imagetest.PNGBomb(30000, 30000)), nil,
			"30000x30000 = 900000000 pixels, over max_pixels (50000000)"},
		"over max_input_bytes": {write(t, b.dir, "big.jpg", good), func(l *InputLimits) { l.MaxInputBytes = 1000 }, "over max_input_bytes (1000B)"},
		"symlink to shadow": {func() string {
			p := filepath.Join(allowed, "cat.jpg")
			os.Symlink("/etc/shadow", p)
			return p
		}(), func(l *InputLimits) { l.AllowedInputRoots = []string{allowed} }, "resolves to /etc/shadow, outside allowed_input_roots"},
		"dot-dot": {allowed + "/../../etc/passwd", nil, `contains ".."`},
		"svg blocked": {write(t, b.dir, "x.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`)), nil,
			"x.svg is in SVG format, whose libvips loader is untrusted: blocked by [images] allow_untrusted_loaders = false"},
	}
	for name, tc := range cases {
		lim := imagesFor(b.dir).InputLimits
		if tc.limits != nil {
			tc.limits(&lim)
		}
		_, err := renderInWorker(t, RenderRequest{Input: tc.input, OutDir: filepath.Join(b.out, "bad"), Variants: []Variant{{Name: "a", Width: 100, Fit: "inside", Format: "jpeg"}}, Limits: lim})
		var re *RenderError
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		} else if !asRenderError(err, &re) || !re.Permanent {
			t.Errorf("%s: error is not permanent: %v", name, err)
		}
		if strings.Contains(fmtErr(err), "goroutine") {
			t.Errorf("%s: error carries a stack trace", name)
		}
	}
}

func asRenderError(err error, re **RenderError) bool {
	r, ok := err.(*RenderError)
	*re = r
	return ok
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestAdmitRefusesBadSubmits(t *testing.T) {
	t.Parallel()
	b := setup(t, Variant{Name: "a", Width: 100, Format: "jpeg"})
	good := write(t, b.dir, "ok.jpg", encodeJPEG(t, gradient(64, 64)))
	text := write(t, b.dir, "notes.jpg", []byte("hello"))
	payload := func(pipeline, input string) json.RawMessage {
		raw, _ := json.Marshal(Payload{Pipeline: pipeline, Input: input})
		return raw
	}
	if queue, err := b.kind.Admit(payload("p", good)); err != nil || queue != "q" {
		t.Fatalf("valid submit: queue %q, err %v; want the pipeline's queue q", queue, err)
	}
	for name, tc := range map[string]struct {
		raw  json.RawMessage
		want string
	}{
		"missing file":     {payload("p", filepath.Join(b.dir, "nope.jpg")), "no such file"},
		"not a picture":    {payload("p", text), "is not a picture"},
		"unknown pipeline": {payload("other", good), `pipeline: unknown pipeline "other" (configured: p)`},
		"no pipeline":      {payload("", good), `pipeline: is required`},
		"no input":         {payload("p", ""), `input: is required`},
		"relative path":    {payload("p", "in.jpg"), "must be an absolute path"},
		"a directory":      {payload("p", b.dir), "not a regular file"},
		"unknown field":    {json.RawMessage(`{"pipeline":"p","input":"/x","colour":"red"}`), `unknown field "colour"`},
	} {
		if _, err := b.kind.Admit(tc.raw); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

func TestPipelineCheck(t *testing.T) {
	t.Parallel()
	v := func(mod func(*Variant)) []Variant {
		x := Variant{Name: "a", Width: 10, Format: "png"}
		mod(&x)
		return []Variant{x}
	}
	for name, tc := range map[string]struct {
		p    Pipeline
		want string
	}{
		"no output_dir":  {Pipeline{Variants: v(func(*Variant) {})}, "output_dir"},
		"no variants":    {Pipeline{OutputDir: "/o"}, "variants"},
		"path in name":   {Pipeline{OutputDir: "/o", Variants: v(func(x *Variant) { x.Name = "../x" })}, "variants[0].name"},
		"dot-dot name":   {Pipeline{OutputDir: "/o", Variants: v(func(x *Variant) { x.Name = ".." })}, "variants[0].name"},
		"duplicate name": {Pipeline{OutputDir: "/o", Variants: append(v(func(*Variant) {}), Variant{Name: "a", Width: 2})}, "variants[1].name"},
		"no size":        {Pipeline{OutputDir: "/o", Variants: v(func(x *Variant) { x.Width = 0 })}, "variants[0].width"},
		"bad format":     {Pipeline{OutputDir: "/o", Variants: v(func(x *Variant) { x.Format = "gif" })}, "variants[0].format"},
		"bad quality":    {Pipeline{OutputDir: "/o", Variants: v(func(x *Variant) { x.Quality = 101 })}, "variants[0].quality"},
		"cover one side": {Pipeline{OutputDir: "/o", Variants: v(func(x *Variant) { x.Fit = "cover" })}, "variants[0].fit"},
		"bad gravity":    {Pipeline{OutputDir: "/o", Variants: v(func(x *Variant) { x.Gravity = "up" })}, "variants[0].gravity"},
		"bad effect":     {Pipeline{OutputDir: "/o", Variants: v(func(x *Variant) { x.Effect = "neon" })}, "variants[0].effect"},
	} {
		tc.p.FillDefaults()
		problems := tc.p.Check()
		if len(problems) != 1 || !strings.HasPrefix(problems[0].Error(), tc.want) {
			t.Errorf("%s: problems = %v, want one starting with %q", name, problems, tc.want)
		}
	}
}

// Every problem of a pipeline is reported, not only the first.
func TestPipelineCheckReportsEveryProblem(t *testing.T) {
	t.Parallel()
	p := Pipeline{Variants: []Variant{{Name: "a", Width: 10, Format: "gif"}, {Name: "b", Width: 10, Quality: 101, Effect: "neon"}}}
	p.FillDefaults()
	var keys []string
	for _, fe := range p.Check() {
		keys = append(keys, fe.Key)
	}
	want := "[output_dir variants[0].format variants[1].effect variants[1].quality]"
	if fmt.Sprint(keys) != want {
		t.Fatalf("problems at %v, want %s", keys, want)
	}
}

var _ = image.Rect

// Blur softens and sharpen crispens: measured as the steepest step between
// neighbouring pixels across a hard edge; progressive JPEGs carry
// the progressive start-of-frame marker.
func TestBlurSharpenProgressive(t *testing.T) {
	t.Parallel()
	b := setup(t,
		Variant{Name: "plain", Width: 200, Format: "png"},
		Variant{Name: "blur", Width: 200, Blur: 3, Format: "png"},
		Variant{Name: "sharp", Width: 200, Sharpen: true, Format: "png"},
		Variant{Name: "prog", Width: 200, Format: "jpeg", Progressive: true},
		Variant{Name: "base", Width: 200, Format: "jpeg"},
	)
	src := flat(400, 400, color.RGBA{40, 40, 40, 255})
	for y := 0; y < 400; y++ {
		for x := 200; x < 400; x++ {
			src.Set(x, y, color.RGBA{220, 220, 220, 255})
		}
	}
	out := b.mustRun(t, write(t, b.dir, "edge.jpg", encodeJPEG(t, src)))
	edge := func(name string) float64 {
		img := decodePNG(t, out[name].Path)
		var steepest float64
		for x := 80; x < 120; x++ {
			a, _, _, _ := img.At(x, 100).RGBA()
			c, _, _, _ := img.At(x+1, 100).RGBA()
			steepest = math.Max(steepest, math.Abs(float64(a>>8)-float64(c>>8)))
		}
		return steepest
	}
	plain, blurred, sharp := edge("plain"), edge("blur"), edge("sharp")
	if !(blurred < plain*0.8) {
		t.Errorf("blur did not soften the edge: %.2f vs %.2f", blurred, plain)
	}
	if !(sharp > plain*1.05) {
		t.Errorf("sharpen did not crispen the edge: %.2f vs %.2f", sharp, plain)
	}
	prog, _ := os.ReadFile(out["prog"].Path)
	base, _ := os.ReadFile(out["base"].Path)
	if !bytes.Contains(prog, []byte{0xff, 0xc2}) || bytes.Contains(base, []byte{0xff, 0xc2}) {
		t.Error("progressive = true did not (alone) give a progressive JPEG")
	}
}
