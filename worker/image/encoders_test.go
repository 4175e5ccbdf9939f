package image

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"kiln/worker/image/imagetest"
)

// Every format a variant may name is one this host's libvips writes, and
// a config that names them all passes the start check: the trial encodes
// succeed on libvips 8.14 and 8.16 alike, in this process and in a trial
// process.
func TestEveryFormatIsWritableHere(t *testing.T) {
	t.Parallel()
	for _, f := range Formats {
		if err := canEncodeHere(f); err != nil {
			t.Errorf("canEncodeHere(%s): %v", f, err)
		}
	}
	c := DefaultConfig()
	c.Pipelines = map[string]Pipeline{"web": {Queue: "q", OutputDir: "/srv/out", Variants: []Variant{
		{Name: "j", Width: 10, Format: "jpeg"}, {Name: "p", Width: 10, Format: "png"},
		{Name: "w", Width: 10, Format: "webp"}, {Name: "a", Width: 10, Format: "avif"}, {Name: "same", Width: 10},
	}}}
	var problems problemList
	c.CheckStart(nil, &problems)
	if len(problems) > 0 {
		t.Errorf("CheckStart of every format: %v", problems)
	}
}

// A format is tried once per process, whatever its answer, however many
// variants and checks name it; a trial process's refusal comes back in
// its words, and a format it was not asked about is not answered. (A
// format kiln does not write, which no other test tries, is one no
// parallel test can have tried first.)
func TestEachFormatIsTriedOncePerProcess(t *testing.T) {
	before := encoderTrialsRun.Load()
	ps := processSettingsOf(DefaultImagesConfig())
	try := func(formats []string) map[string]error {
		if len(formats) != 1 || formats[0] != "gif" {
			t.Errorf("tried %v, want only gif", formats)
		}
		return tryInTrialProcess(formats, ps)
	}
	first := answersTried.answers([]string{"gif", "gif"}, try)["gif"]
	second := answersTried.answers([]string{"gif"}, try)["gif"]
	if n := encoderTrialsRun.Load() - before; n != 1 {
		t.Errorf("two answers for gif took %d trials, want 1", n)
	}
	if first == nil || first != second || first.Error() != `unknown format "gif"` {
		t.Errorf("the trial of gif said %v, then %v; want the same error twice, the trial process's own", first, second)
	}
	both := tryInTrialProcess([]string{"png", "tiff"}, ps)
	if len(both) != 2 || both["png"] != nil || both["tiff"] == nil || both["tiff"].Error() != `unknown format "tiff"` {
		t.Errorf("one trial of png and tiff said %v, want png written and tiff unknown", both)
	}
}

func TestEncoderPackageFollowsTheDebianRelease(t *testing.T) {
	t.Parallel()
	bookworm := parseOSRelease("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n")
	trixie := parseOSRelease("VERSION_ID=\"13\"\nVERSION_CODENAME=trixie\nID=debian\n")
	sid := parseOSRelease("PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nVERSION_CODENAME=trixie\nID=debian\n")
	ubuntu := parseOSRelease("ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n")
	cases := []struct {
		r      debianRelease
		format string
		want   string
	}{
		{bookworm, "avif", "libheif1"},
		{trixie, "avif", "libheif-plugin-aomenc"},
		{sid, "avif", "libheif-plugin-aomenc"},
		{bookworm, "webp", "libvips42"},
		{trixie, "jpeg", "libvips42t64"},
		{ubuntu, "avif", ""},
		{debianRelease{major: 14}, "avif", ""},
	}
	for _, c := range cases {
		if got := encoderPackage(c.format, c.r).name; got != c.want {
			t.Errorf("encoderPackage(%s, Debian %d) = %q, want %q", c.format, c.r.major, got, c.want)
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
	want := []string{"variant same: this host's libvips cannot write AVIF"}
	if hostRelease().major == 13 {
		want = append(want, "install the Debian package libheif-plugin-aomenc")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	t.Logf("%v", err)
}
