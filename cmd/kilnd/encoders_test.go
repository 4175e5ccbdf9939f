package main

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"kiln/kilntype"
	"kiln/worker/image/imageapi"
	"kiln/worker/image/imagetest"
)

// galleryPipeline is a pipeline whose second output, "hero", is AVIF.
func galleryPipeline(out string) string {
	return `
[pipelines.gallery]
queue = "images"
output_dir = "` + filepath.Join(out, "gallery") + `"

[[pipelines.gallery.variants]]
name = "large"
width = 240
format = "jpeg"

[[pipelines.gallery.variants]]
name = "hero"
width = 200
format = "avif"

[[pipelines.gallery.variants]]
name = "icon"
width = 32
format = "png"
`
}

// withoutAV1Encoder is the environment of a kilnd whose libheif loads no
// plug-in at all, as on a Debian 13 host without libheif-plugin-aomenc
// (and its decoders, which no check here needs); the test is skipped
// where libheif has its encoders built in.
func withoutAV1Encoder(t *testing.T) []string {
	t.Helper()
	if imagetest.AV1EncoderPlugin() == "" {
		t.Skip(imagetest.AV1EncoderSkipReason)
	}
	return []string{"LIBHEIF_PLUGIN_PATH=" + t.TempDir()}
}

// Every format a variant may name passes -check-config and a start, and a
// picture comes out in each: the check's trial encodes succeed where the
// encoders are there.
func TestEveryFormatPassesTheChecksAndIsWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, e.configText("", galleryPipeline(e.out)))
	if out, code := runKilnd(t, "-check-config", "-config", e.config); code != 0 || strings.TrimSpace(out) != "config OK" {
		t.Fatalf("-check-config of JPEG, WebP, AVIF and PNG outputs: exit %d\n%s", code, out)
	}
	e.start(t)
	j, err := e.client().Submit(context.Background(), imageapi.Request("gallery", e.picture(t, "g.jpg", 480, 320)))
	if err != nil {
		t.Fatal(err)
	}
	done := e.finished(t, j.ID)
	if done.State != kilntype.StateSucceeded {
		t.Fatalf("gallery job: %s %q", done.State, done.LastError)
	}
	res, err := imageapi.ParseResult(done.Result)
	if err != nil {
		t.Fatal(err)
	}
	var formats []string
	for _, o := range res.Outputs {
		formats = append(formats, o.Format)
	}
	if !slices.Equal(formats, []string{"jpeg", "avif", "png"}) {
		t.Fatalf("gallery outputs in %v, want jpeg, avif, png", formats)
	}
}

// The refusal of an AVIF output that libvips here cannot write: the line
// of its format, the pipeline, the output, the format, and on Debian the
// package that brings the encoder.
func avifRefusal(e *env) []string {
	want := []string{e.config + ":", `pipelines.gallery.variants[1].format: output "hero" of pipeline gallery is avif, but this host's libvips cannot write AVIF`}
	if data, err := os.ReadFile("/etc/os-release"); err == nil && strings.Contains(string(data), `VERSION_ID="13"`) {
		want = append(want, "install the Debian package libheif-plugin-aomenc")
	}
	return want
}

// Without libheif's AV1 encoder, a pipeline with an AVIF output is
// refused by -check-config and by a start alike, exit 78 with the same
// words, rather than found by its first job; its other outputs are not
// named.
func TestCheckConfigRefusesAnAVIFOutputWithoutItsEncoder(t *testing.T) {
	t.Parallel()
	noAV1 := withoutAV1Encoder(t)
	e := newEnv(t)
	e.writeConfig(t, e.configText("", galleryPipeline(e.out)))

	checked, code := runKilndWith(t, noAV1, "-check-config", "-config", e.config)
	if code != 78 {
		t.Fatalf("-check-config: exit %d, want 78; output:\n%s", code, checked)
	}
	for _, w := range avifRefusal(e) {
		if !strings.Contains(checked, w) {
			t.Errorf("-check-config output lacks %q:\n%s", w, checked)
		}
	}
	lines := strings.Split(strings.TrimSpace(checked), "\n")
	if len(lines) != 1 {
		t.Errorf("-check-config said %d lines, want the AVIF output's alone:\n%s", len(lines), checked)
	}
	started, code := runKilndWith(t, noAV1, "-config", e.config)
	if code != 78 {
		t.Fatalf("start: exit %d, want 78; output:\n%s", code, started)
	}
	for _, l := range lines {
		if !strings.Contains(started, l) {
			t.Errorf("start did not say what -check-config said: %q\nstart said:\n%s", l, started)
		}
	}
	t.Logf("-check-config:\n%s", checked)
}

// A reload that adds an AVIF output libvips here cannot write is refused,
// naming it, and the running config stays: its pipelines still run, and
// the reloaded file's other changes are not applied.
func TestReloadRefusesAnAVIFOutputWithoutItsEncoder(t *testing.T) {
	t.Parallel()
	noAV1 := withoutAV1Encoder(t)
	e := newEnv(t)
	d := e.start(t, noAV1...)

	e.writeConfig(t, e.configText("", galleryPipeline(e.out)+"\n[queues.added]\n"))
	r := e.kilnctl(t, "reload")
	if r.code == 0 {
		t.Fatalf("kilnctl reload with an AVIF output and no AV1 encoder: exit 0\n%s%s", r.stdout, r.stderr)
	}
	for _, w := range avifRefusal(e) {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("kilnctl reload's error lacks %q:\n%s", w, r.stderr)
		}
	}
	st, err := e.client().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, added := st.Queues["added"]; added || !slices.Equal(st.Names["pipelines"], []string{"web"}) {
		t.Errorf("the refused config was applied: queues %v, pipelines %v", slices.Sorted(maps.Keys(st.Queues)), st.Names["pipelines"])
	}
	workerPID(t, e, e.picture(t, "still.jpg", 300, 200)) // pipeline web, as before the reload
	if code := d.stop(t); code != 0 {
		t.Errorf("kilnd exit %d after the refused reload, want 0", code)
	}
}
