package inbox

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A picture keeps its key across the rename into .processing (a start
// scan that meets it again after a crash names it the same); another file
// under the same name, or the same file changed, gets another.
func TestKeyFollowsTheFile(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.jpg")
	if err := os.WriteFile(a, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	keyAt := func(path, name string) string {
		st, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		return keyOf(st, name)
	}
	k1 := keyAt(a, "a.jpg")
	if !isKey(k1) {
		t.Fatalf("key %q is not %d hex digits", k1, keyLen)
	}
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(a, moved); err != nil {
		t.Fatal(err)
	}
	if k := keyAt(moved, "a.jpg"); k != k1 {
		t.Errorf("key changed with a rename: %s, then %s", k1, k)
	}
	// Another file under the name, the same size and time: another inode.
	if err := os.WriteFile(a, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Lstat(moved)
	if err := os.Chtimes(a, time.Now(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if k := keyAt(a, "a.jpg"); k == k1 {
		t.Error("another file under the same name has the same key")
	}
	if err := os.WriteFile(moved, []byte("one more"), 0o644); err != nil {
		t.Fatal(err)
	}
	if k := keyAt(moved, "a.jpg"); k == k1 {
		t.Error("a file rewritten has the same key")
	}
}
