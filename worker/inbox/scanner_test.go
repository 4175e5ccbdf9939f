package inbox

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A scan takes the regular files last written more than the settle time
// ago, under names it does not ignore, and says when to look again at the
// younger ones.
func TestScanTakesSettledFilesOnly(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	write := func(name string, age time.Duration) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, now, now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	write("old.jpg", time.Minute)
	write("settled.jpg", 6*time.Second)
	write("young.jpg", 2*time.Second)
	write("younger.jpg", time.Second)
	write(".hidden.jpg", time.Minute)
	write("upload.jpg.part", time.Minute)
	if err := os.Mkdir(filepath.Join(dir, "sub.jpg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "old.jpg"), filepath.Join(dir, "link.jpg")); err != nil {
		t.Fatal(err)
	}
	s, err := scanInbox(dir, 5*time.Second, now)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(s.ready)
	if want := []string{"old.jpg", "settled.jpg"}; !slices.Equal(s.ready, want) {
		t.Errorf("ready = %v, want %v", s.ready, want)
	}
	// young.jpg was last written 2 s ago: it is old enough in 3 s.
	if want := now.Add(3 * time.Second); !s.recheck.Equal(want) {
		t.Errorf("recheck at %v, want %v", s.recheck, want)
	}
	if s.full {
		t.Error("a scan of 8 entries is full")
	}
}

func TestScanProcessingSortsItsFiles(t *testing.T) {
	dir := t.TempDir()
	key := "0123456789abcdef0123"
	for _, name := range []string{key + "_photo.jpg", key + "_with_underscores.jpg", "fedcba98765432100123.job", ".fedcba98765432100123.job.tmp12345", "stray.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := scanProcessing(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range p.entries {
		if e.key != key {
			t.Errorf("entry %q has key %q", e.name, e.key)
		}
		names = append(names, e.name)
	}
	slices.Sort(names)
	if want := []string{"photo.jpg", "with_underscores.jpg"}; !slices.Equal(names, want) {
		t.Errorf("entries %v, want %v", names, want)
	}
	if !p.tickets["fedcba98765432100123"] || len(p.tickets) != 1 {
		t.Errorf("tickets %v", p.tickets)
	}
	if !slices.Equal(p.leftovers, []string{".fedcba98765432100123.job.tmp12345"}) {
		t.Errorf("leftovers %v", p.leftovers)
	}
}
