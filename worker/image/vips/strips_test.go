package vips

import "testing"

// A worker's libvips computes its pipelines in strips of stripLines lines,
// not libvips' own 128, wide pictures and narrow ones alike.
func TestPipelinesRunInShortStrips(t *testing.T) {
	if err := Start(false); err != nil {
		t.Fatal(err)
	}
	for _, width := range []int{200, 1600, 4000} {
		img, err := Blank(width, 600)
		if err != nil {
			t.Fatal(err)
		}
		resized, err := img.Resize(0.8, 0.8)
		img.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := resized.stripLinesOf(); got != stripLines {
			t.Errorf("a %d-wide picture resized is computed %d lines at a time, want %d", width, got, stripLines)
		}
		resized.Close()
	}
}
