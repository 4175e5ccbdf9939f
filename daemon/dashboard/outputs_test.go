package dashboard

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Only regular files inside the root are opened: no "..", no symlink out,
// whether the link is the file or a directory on the way.
func TestOpenInsideRefusesEscapes(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	root := filepath.Join(base, "out")
	os.MkdirAll(filepath.Join(root, "job1"), 0o755)
	os.WriteFile(filepath.Join(root, "job1", "ok.jpg"), []byte("jpeg"), 0o644)
	secret := filepath.Join(base, "secret.txt")
	os.WriteFile(secret, []byte("secret"), 0o600)
	os.Symlink(secret, filepath.Join(root, "job1", "link.jpg"))
	os.Symlink(base, filepath.Join(root, "escape"))
	os.Symlink(filepath.Join(root, "job1", "ok.jpg"), filepath.Join(root, "job1", "inner.jpg"))

	f, err := openInside(root, filepath.Join(root, "job1", "ok.jpg"))
	if err != nil {
		t.Fatalf("a file inside the root: %v", err)
	}
	f.Close()
	f, err = openInside(root, filepath.Join(root, "job1", "inner.jpg"))
	if err != nil {
		t.Fatalf("a symlink that stays inside the root: %v", err)
	}
	f.Close()
	for name, path := range map[string]string{
		"dot-dot":             root + "/job1/../../secret.txt",
		"symlinked file":      filepath.Join(root, "job1", "link.jpg"),
		"symlinked directory": filepath.Join(root, "escape", "secret.txt"),
		"relative":            "out/job1/ok.jpg",
		"the root itself":     root,
	} {
		if f, err := openInside(root, path); err == nil {
			f.Close()
			t.Errorf("%s: %s was opened", name, path)
		} else if !errors.Is(err, errOutside) {
			t.Errorf("%s: refused with %v, want errOutside", name, err)
		}
	}
}
