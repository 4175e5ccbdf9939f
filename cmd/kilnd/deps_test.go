package main

import (
	"debug/elf"
	"slices"
	"strings"
	"testing"

	"kiln/internal/golist"
)

// kilnd does not link libvips: pictures are decoded in kiln-image-worker
// processes, which kilnd asks what libvips can do. Were the daemon to
// import the package that binds libvips (or the one that renders with
// it), it would load libvips and its hundred libraries again, and carry
// their relocated and private pages in every kilnd, busy or not.
func TestKilndDoesNotLinkLibvips(t *testing.T) {
	t.Parallel()
	deps, err := golist.Deps("kiln/cmd/kilnd")
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) < 10 || !slices.Contains(deps, "kiln/worker/image") {
		t.Fatalf("go list -deps kiln/cmd/kilnd listed %d packages, not kiln/worker/image among them: %q", len(deps), deps)
	}
	for _, dep := range deps {
		if dep == "kiln/worker/image/vips" || dep == "kiln/worker/image/render" {
			t.Errorf("kilnd imports %s, which links libvips: the daemon asks kiln-image-worker instead", dep)
		}
	}
}

// The kilnd the tests run needs no libvips library (its ELF's DT_NEEDED,
// what ldd starts from).
func TestKilndBinaryNeedsNoLibvips(t *testing.T) {
	t.Parallel()
	f, err := elf.Open(kilndPath())
	if err != nil {
		t.Fatalf("open %s: %v", kilndPath(), err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatalf("read the libraries %s needs: %v", kilndPath(), err)
	}
	for _, lib := range libs {
		if strings.HasPrefix(lib, "libvips") {
			t.Errorf("%s needs %s (all: %v)", kilndPath(), lib, libs)
		}
	}
}
