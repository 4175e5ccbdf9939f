package image

import (
	"path/filepath"
	"testing"
)

// kiln's own check looks at how a file starts. An SVG behind a comment
// passes it, and libvips, started with the untrusted loaders blocked, does
// not decode it: 8.14 picks the blocked loader and refuses to run it,
// 8.16 leaves the blocked loader out when it looks for one and knows no
// format. kiln names the block in its own words on both, from the loader
// that recognises the file.
func TestUntrustedLoadersStayBlockedInLibvips(t *testing.T) {
	t.Parallel()
	b := setup(t, Variant{Name: "a", Width: 100, Format: "jpeg"})
	svg := write(t, b.dir, "behind-a-comment.svg", []byte(`<!-- drawn --><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`))
	lim := imagesFor(b.dir).InputLimits
	if lim.AllowUntrustedLoaders {
		t.Fatal("the test's limits allow untrusted loaders")
	}
	_, err := renderInWorker(t, RenderRequest{Input: svg, OutDir: filepath.Join(b.out, "svg"), Variants: []Variant{{Name: "a", Width: 100, Fit: "inside", Format: "jpeg"}}, Limits: lim})
	want := svg + " is in SVG format, whose libvips loader is untrusted: blocked by [images] allow_untrusted_loaders = false"
	var re *RenderError
	if err == nil || err.Error() != want || !asRenderError(err, &re) || !re.Permanent {
		t.Fatalf("an SVG behind a comment with untrusted loaders blocked: err = %v, want permanent %q", err, want)
	}
}
