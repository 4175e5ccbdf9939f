package vips

import (
	"os"
	"path/filepath"
	"testing"
)

// A buffer of 1 MiB or more gets a mapping of its own, handed back to the
// kernel as it is freed, also after a larger one was freed (where glibc's
// own threshold would have risen to that one's size, and put the next in
// the heap); a smaller one comes from the heap. An input read into C
// memory is such a buffer.
func TestLargeBuffersHaveMappingsOfTheirOwn(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		size   int
		mapped bool
	}{{5 << 20, true}, {2 << 20, true}, {1 << 20, true}, {900 << 10, false}} {
		path := filepath.Join(dir, "in")
		if err := os.WriteFile(path, make([]byte, c.size), 0o644); err != nil {
			t.Fatal(err)
		}
		before := mallocMapped()
		in, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		held := mallocMapped() - before
		in.Free()
		after := mallocMapped() - before
		switch {
		case c.mapped && held < int64(c.size):
			t.Errorf("a %d-byte buffer: %d bytes more in mappings of their own while it is held, want at least %d", c.size, held, c.size)
		case !c.mapped && held != 0:
			t.Errorf("a %d-byte buffer: %d bytes more in mappings of their own, want it from the heap", c.size, held)
		}
		if after != 0 {
			t.Errorf("a %d-byte buffer freed: still %d bytes more in mappings of their own", c.size, after)
		}
	}
}
