package image

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kiln/worker"
)

// writeJPEG makes a w x h gradient JPEG in dir.
func writeJPEG(t *testing.T, dir string, w, h int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "in.jpg")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type imageBundle struct {
	dir     string
	out     string
	handler *Handler
}

func setup(t *testing.T, variants ...Variant) *imageBundle {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	h := NewHandler(map[string]Pipeline{"p": {Queue: "q", OutputDir: out, Variants: variants}})
	return &imageBundle{dir: dir, out: out, handler: h}
}

func (b *imageBundle) run(t *testing.T, id, input string) (Result, error) {
	t.Helper()
	payload, _ := json.Marshal(Payload{Pipeline: "p", Input: input})
	raw, err := b.handler.Handle(context.Background(), &worker.Job{ID: id, Payload: payload})
	var res Result
	if err == nil {
		if jerr := json.Unmarshal(raw, &res); jerr != nil {
			t.Fatal(jerr)
		}
	}
	return res, err
}

func TestVariantsHaveTheirSizesAndFormats(t *testing.T) {
	t.Parallel()
	b := setup(t,
		Variant{Name: "w600", Width: 600, Format: "jpeg", Quality: 85},
		Variant{Name: "box", Width: 200, Height: 200, Format: "png"},
		Variant{Name: "h100", Height: 100, Format: "webp"},
		Variant{Name: "huge", Width: 5000, Format: "jpeg"},
	)
	in := writeJPEG(t, b.dir, 1200, 800)
	res, err := b.run(t, "job1", in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][3]any{ // width, height, format
		"w600": {600, 400, "jpeg"},
		"box":  {200, 133, "png"},
		"h100": {150, 100, "webp"},
		"huge": {1200, 800, "jpeg"}, // never enlarged
	}
	if len(res.Outputs) != len(want) {
		t.Fatalf("%d outputs, want %d", len(res.Outputs), len(want))
	}
	for _, o := range res.Outputs {
		w := want[o.Variant]
		if o.Width != w[0] || o.Height != w[1] {
			t.Errorf("%s: %dx%d, want %dx%d", o.Variant, o.Width, o.Height, w[0], w[1])
		}
		if filepath.Dir(o.Path) != filepath.Join(b.out, "job1") {
			t.Errorf("%s written to %s, want under %s", o.Variant, o.Path, filepath.Join(b.out, "job1"))
		}
		format, err := sniff(o.Path)
		if err != nil || format != w[2] {
			t.Errorf("%s: file format %q (%v), want %s", o.Variant, format, err, w[2])
		}
		st, _ := os.Stat(o.Path)
		if st == nil || int(st.Size()) != o.Bytes {
			t.Errorf("%s: result says %d bytes, file has %v", o.Variant, o.Bytes, st)
		}
	}
	// The PNG must decode to the size the result claims.
	f, _ := os.Open(filepath.Join(b.out, "job1", "box.png"))
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width != 200 || cfg.Height != 133 {
		t.Errorf("box.png decodes as %dx%d (%v)", cfg.Width, cfg.Height, err)
	}
}

// At-least-once delivery means a job can run twice: it must write the same
// bytes to the same paths, and leave no temp files.
func TestRerunIsByteIdentical(t *testing.T) {
	t.Parallel()
	b := setup(t, Variant{Name: "a", Width: 300, Format: "jpeg"}, Variant{Name: "b", Width: 100, Format: "webp"})
	in := writeJPEG(t, b.dir, 640, 480)
	first, err := b.run(t, "same", in)
	if err != nil {
		t.Fatal(err)
	}
	contents := map[string][]byte{}
	for _, o := range first.Outputs {
		contents[o.Path], _ = os.ReadFile(o.Path)
	}
	second, err := b.run(t, "same", in)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range second.Outputs {
		now, _ := os.ReadFile(o.Path)
		if !bytes.Equal(now, contents[o.Path]) {
			t.Errorf("%s differs between runs", o.Path)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(b.out, "same"))
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("output dir holds %v, want exactly a.jpg and b.webp", names)
	}
}

func TestUndecodablePictureFailsPermanently(t *testing.T) {
	t.Parallel()
	b := setup(t, Variant{Name: "a", Width: 100, Format: "jpeg"})
	bad := filepath.Join(b.dir, "bad.jpg")
	os.WriteFile(bad, append([]byte{0xff, 0xd8, 0xff, 0xe0}, []byte("this is not a jpeg at all")...), 0o644)
	_, err := b.run(t, "bad", bad)
	if err == nil || !worker.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent error", err)
	}
	if !strings.Contains(err.Error(), "decode "+bad) || !strings.Contains(err.Error(), "Jpeg") {
		t.Fatalf("err = %q, want the decoder's reason", err)
	}
	if strings.Contains(err.Error(), "goroutine") {
		t.Fatalf("err carries a stack trace: %q", err)
	}
}

func TestValidateRefusesBadSubmits(t *testing.T) {
	t.Parallel()
	b := setup(t, Variant{Name: "a", Width: 100, Format: "jpeg"})
	good := writeJPEG(t, b.dir, 64, 64)
	text := filepath.Join(b.dir, "notes.jpg")
	os.WriteFile(text, []byte("hello"), 0o644)
	payload := func(pipeline, input string) json.RawMessage {
		raw, _ := json.Marshal(Payload{Pipeline: pipeline, Input: input})
		return raw
	}
	if err := b.handler.Validate(payload("p", good)); err != nil {
		t.Fatalf("valid submit refused: %v", err)
	}
	for name, tc := range map[string]struct {
		raw  json.RawMessage
		want string
	}{
		"missing file":     {payload("p", filepath.Join(b.dir, "nope.jpg")), "no such file"},
		"not a picture":    {payload("p", text), "is not a picture"},
		"unknown pipeline": {payload("other", good), `unknown pipeline "other"`},
		"relative path":    {payload("p", "in.jpg"), "must be an absolute path"},
		"a directory":      {payload("p", b.dir), "not a regular file"},
		"unknown field":    {json.RawMessage(`{"pipeline":"p","input":"/x","colour":"red"}`), `unknown field "colour"`},
	} {
		if err := b.handler.Validate(tc.raw); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

func TestPipelineCheck(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		p    Pipeline
		want string
	}{
		"no output_dir":  {Pipeline{Variants: []Variant{{Name: "a", Width: 1, Format: "png"}}}, "output_dir"},
		"no variants":    {Pipeline{OutputDir: "/o"}, "variants"},
		"path in name":   {Pipeline{OutputDir: "/o", Variants: []Variant{{Name: "../x", Width: 1, Format: "png"}}}, "variants[0].name"},
		"dot-dot name":   {Pipeline{OutputDir: "/o", Variants: []Variant{{Name: "..", Width: 1, Format: "png"}}}, "variants[0].name"},
		"duplicate name": {Pipeline{OutputDir: "/o", Variants: []Variant{{Name: "a", Width: 1, Format: "png"}, {Name: "a", Width: 2, Format: "png"}}}, "variants[1].name"},
		"no size":        {Pipeline{OutputDir: "/o", Variants: []Variant{{Name: "a", Format: "png"}}}, "variants[0].width"},
		"bad format":     {Pipeline{OutputDir: "/o", Variants: []Variant{{Name: "a", Width: 1, Format: "gif"}}}, "variants[0].format"},
		"bad quality":    {Pipeline{OutputDir: "/o", Variants: []Variant{{Name: "a", Width: 1, Format: "jpeg", Quality: 101}}}, "variants[0].quality"},
	} {
		err := tc.p.Check()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to start with %q", name, err, tc.want)
		}
	}
}

// A worker killed mid-write leaves a temp file; the next attempt of the same
// job clears it, so the output directory ends up holding only outputs.
func TestRerunClearsTempFilesOfAKilledAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, Variant{Name: "a", Width: 50, Format: "png"})
	in := writeJPEG(t, b.dir, 100, 100)
	dir := filepath.Join(b.out, "job")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, ".a.png.tmp123"), []byte("half"), 0o644)
	if _, err := b.run(t, "job", in); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "a.png" {
		t.Fatalf("output dir holds %v, want only a.png", entries)
	}
}
