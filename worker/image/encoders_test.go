package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"kiln/worker/image/imagetest"
	"kiln/worker/image/renderjob"
)

// Every format a variant may name is one this host's libvips writes, and
// a config that names them all passes the start check: the worker probed
// writes each, on libvips 8.14 and 8.16 alike.
func TestEveryFormatIsWritableHere(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	c.worker = testWorkerBinary
	c.Pipelines = map[string]Pipeline{"web": {Queue: "q", OutputDir: "/srv/out", Variants: []Variant{
		{Name: "j", Width: 10, Format: "jpeg"}, {Name: "p", Width: 10, Format: "png"},
		{Name: "w", Width: 10, Format: "webp"}, {Name: "a", Width: 10, Format: "avif"}, {Name: "same", Width: 10},
	}}}
	var problems problemList
	c.CheckStart(nil, &problems)
	if len(problems) > 0 {
		t.Errorf("CheckStart of every format: %v", problems)
	}
	if v, ok := workerAnswers.version(testWorkerBinary); !ok || !strings.HasPrefix(v, "8.") {
		t.Errorf("the worker's libvips version after the check: %q, %v; want 8.x", v, ok)
	}
}

// A format is tried once per process, whatever its answer, however many
// variants and checks name it, all untried formats in one probe; a
// worker's refusal comes back in its words, and a format it was not asked
// about is not answered. (Formats kiln does not write, which no other test
// tries, are ones no parallel test can have tried first.)
func TestEachFormatIsTriedOncePerProcess(t *testing.T) {
	ps := processSettingsOf(DefaultImagesConfig())
	var asked [][]string
	probe := func(formats []string) (*ProbeAnswer, error) {
		asked = append(asked, formats)
		return probeWorker(testWorkerBinary, ps, formats)
	}
	var answers encoderAnswers
	first, v1, err1 := answers.answers(testWorkerBinary, []string{"gif", "png", "gif"}, probe)
	second, v2, err2 := answers.answers(testWorkerBinary, []string{"gif", "png"}, probe)
	if err1 != nil || err2 != nil {
		t.Fatalf("probes: %v, %v", err1, err2)
	}
	if len(asked) != 1 || !slices.Equal(asked[0], []string{"gif", "png"}) {
		t.Errorf("probes asked %q, want gif and png once", asked)
	}
	if first["gif"] == nil || first["gif"] != second["gif"] || first["gif"].Error() != `unknown format "gif"` {
		t.Errorf("the probe of gif said %v, then %v; want the same error twice, the worker's own", first["gif"], second["gif"])
	}
	if first["png"] != nil || second["png"] != nil || len(first) != 2 || v1 == "" || v1 != v2 {
		t.Errorf("answers %v then %v, libvips %q then %q; want png written and one version", first, second, v1, v2)
	}
	if _, _, err := answers.answers(testWorkerBinary, []string{"tiff"}, probe); err != nil || len(asked) != 2 || !slices.Equal(asked[1], []string{"tiff"}) {
		t.Errorf("a format not tried yet: probes %q, %v; want tiff alone", asked, err)
	}
}

// A worker binary that is missing, or that is no worker, is said by the
// check as such, naming the binary, and leaves no answer behind: the next
// check asks again.
func TestAWorkerThatCannotRunIsAConfigProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notAWorker := filepath.Join(dir, "not-a-worker")
	if err := os.WriteFile(notAWorker, []byte("#!/bin/sh\necho 'no such thing' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for binary, want := range map[string]string{
		filepath.Join(dir, "missing"): "images: probe image worker " + filepath.Join(dir, "missing") + ": not found",
		notAWorker:                    "images: probe image worker " + notAWorker + ": exit status 3: no such thing",
	} {
		c := DefaultConfig()
		c.worker = binary
		c.Pipelines = map[string]Pipeline{"web": {Queue: "q", OutputDir: "/srv/out", Variants: []Variant{{Name: "j", Width: 10, Format: "jpeg"}}}}
		for range 2 {
			var problems problemList
			c.CheckStart(nil, &problems)
			if len(problems) != 1 || problems[0] != want {
				t.Errorf("CheckStart with worker %s: %q, want %q", binary, problems, want)
			}
		}
	}
}

// Without libheif's AV1 encoder plug-in (Debian 13 ships it apart, as a
// package libheif1 only recommends) but with its decoders, an AVIF
// picture still decodes, and a variant that keeps its format, which no
// config check can try beforehand, fails for good in kiln's words, naming
// the package: not libvips' "heifsave: Unsupported compression" retried
// until the job's attempts run out. The worker processes are real and
// read LIBHEIF_PLUGIN_PATH as libheif starts in them.
func TestAVIFWithoutItsEncoderFailsNamingThePackage(t *testing.T) {
	plugin := imagetest.AV1EncoderPlugin()
	if plugin == "" {
		t.Skip(imagetest.AV1EncoderSkipReason)
	}
	b := setup(t, Variant{Name: "a", Width: 200, Format: "avif"})
	avif := b.mustRun(t, write(t, b.dir, "in.jpg", encodeJPEG(t, gradient(300, 200))))["a"].Path
	decodersOnly, err := imagetest.PluginPathWithout(t.TempDir(), plugin, filepath.Base(plugin))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("LIBHEIF_PLUGIN_PATH", decodersOnly)
	w, _ := testWorkers(imagesFor(filepath.Dir(b.dir)))
	defer w.Close()
	render := func(v Variant) (*Result, error) {
		v.Fit, v.Gravity = "inside", "centre"
		return w.Render(context.Background(), RenderRequest{Input: avif, OutDir: filepath.Join(b.dir, v.Name), Variants: []Variant{v}, Limits: imagesFor(filepath.Dir(b.dir)).InputLimits})
	}
	if res, err := render(Variant{Name: "jpeg", Width: 100, Format: "jpeg"}); err != nil || res.Outputs[0].Width != 100 {
		t.Fatalf("the AVIF to JPEG with only libheif's decoders: %+v, %v", res, err)
	}
	_, err = render(Variant{Name: "same", Width: 100})
	var re *RenderError
	if err == nil || !asRenderError(err, &re) || !re.Permanent {
		t.Fatalf("the AVIF kept as AVIF without the encoder: err = %v, want a permanent failure", err)
	}
	// The hint of this host's release (on Debian 13, the plug-in package).
	hint := renderjob.EncoderMissing("avif", errors.New(""))
	want := []string{"variant same: this host's libvips cannot write AVIF", hint[strings.Index(hint, "): ")+3:]}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	t.Logf("%v", err)
}
