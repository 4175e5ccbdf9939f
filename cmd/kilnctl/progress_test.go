package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	t.Parallel()
	got := progressLine("submitting", 500, 2000, 2*time.Second, "3 refused")
	for _, want := range []string{"submitting", "[######..................]", " 500/2000", "25%", "250/s", "ETA 0:06", "3 refused"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if got := progressLine("running", 0, 10, 0, ""); !strings.Contains(got, "ETA --:--") {
		t.Errorf("no rate yet: %q", got)
	}
	if got := clock(3*time.Hour + 2*time.Minute + 5*time.Second); got != "3:02:05" {
		t.Errorf("clock: %q", got)
	}
}

func TestExpandInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []string{"a.jpg", "sub/b.PNG", "sub/deeper/c.webp", "notes.txt", "sub/d.jpg.bak"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o644)
	}
	named := filepath.Join(dir, "notes.txt")
	got, err := expandInputs([]string{dir, named, "-"}, strings.NewReader("rel.jpg\n\n  /abs/x.gif  \n"))
	if err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	want := []string{
		filepath.Join(dir, "a.jpg"), filepath.Join(dir, "sub/b.PNG"), filepath.Join(dir, "sub/deeper/c.webp"),
		named, filepath.Join(cwd, "rel.jpg"), "/abs/x.gif",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
