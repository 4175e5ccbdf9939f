package render

import (
	"strings"
	"testing"

	"kiln/worker/image/renderjob"
)

// Every format a variant may name is one this host's libvips writes, on
// libvips 8.14 and 8.16 alike, and the probe says so with the version;
// a format kiln does not write is answered in libvips' words.
func TestEveryFormatIsWritableHere(t *testing.T) {
	for _, f := range renderjob.Formats {
		if err := canEncodeHere(f); err != nil {
			t.Errorf("canEncodeHere(%s): %v", f, err)
		}
	}
	ans := probe(renderjob.ProbeRequest{Formats: append([]string{"gif"}, renderjob.Formats...)})
	if !strings.HasPrefix(ans.Libvips, "8.") || len(ans.Formats) != len(renderjob.Formats)+1 {
		t.Fatalf("probe answered %+v", ans)
	}
	for _, f := range renderjob.Formats {
		if msg := ans.Formats[f]; msg != "" {
			t.Errorf("probe of %s: %s", f, msg)
		}
	}
	if msg := ans.Formats["gif"]; msg != `unknown format "gif"` {
		t.Errorf("probe of gif: %q, want libvips' unknown format", msg)
	}
}
