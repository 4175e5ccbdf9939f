package image

import (
	"path/filepath"
	"testing"
)

func TestUntrustedFormatNamesTheDocumentFormats(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		`<svg xmlns="http://www.w3.org/2000/svg"/>`:                   "SVG",
		"\xef\xbb\xbf\n  <?xml version=\"1.0\"?>\n<svg width=\"1\"/>": "SVG",
		"%PDF-1.7\n":                           "PDF",
		"%!PS-Adobe-3.0 EPSF-3.0\n":            "PostScript",
		"SIMPLE  =                    T":       "FITS",
		"\x76\x2f\x31\x01\x02\x00\x00\x00":     "OpenEXR",
		"MATLAB 5.0 MAT-file":                  "MATLAB",
		"\xff\xd8\xff\xe0\x00\x10JFIF":         "",
		"<?xml version=\"1.0\"?><html></html>": "",
	}
	for head, want := range cases {
		if got := UntrustedFormat([]byte(head)); got != want {
			t.Errorf("UntrustedFormat(%q) = %q, want %q", head, got, want)
		}
	}
}

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
