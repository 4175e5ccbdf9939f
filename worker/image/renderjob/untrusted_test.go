package renderjob

import "testing"

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
