package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// imagesFor is the default [images] table with dir, where a test writes
// its pictures, as the one allowed input root.
func imagesFor(dir string) ImagesConfig {
	c := DefaultImagesConfig()
	c.AllowedInputRoots = []string{dir}
	return c
}

// A path outside allowed_input_roots gets one answer, whatever is there:
// a picture, a file kilnd cannot read, one that is not a picture, a
// directory, or nothing. Inside the roots the same paths are told apart,
// which is what the roots keep a submitter from doing to the rest of the
// host.
func TestOutsideTheRootsEveryPathGetsTheSameAnswer(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	uploads := filepath.Join(t.TempDir(), "uploads")
	if err := os.Mkdir(uploads, 0o755); err != nil {
		t.Fatal(err)
	}
	paths := func(dir string) map[string]string {
		unreadable := write(t, dir, "unreadable.jpg", encodeJPEG(t, gradient(40, 30)))
		if err := os.Chmod(unreadable, 0); err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, "a-directory.jpg")
		os.Mkdir(sub, 0o755)
		return map[string]string{
			"picture":     write(t, dir, "cat.jpg", encodeJPEG(t, gradient(40, 30))),
			"unreadable":  unreadable,
			"not picture": write(t, dir, "notes.jpg", []byte("not a picture, just words")),
			"directory":   sub,
			"missing":     filepath.Join(dir, "missing.jpg"),
		}
	}
	settings := Settings{Pipelines: map[string]Pipeline{"p": {Queue: "q", OutputDir: t.TempDir()}}, Images: imagesFor(uploads)}
	kind := NewKind(func() Settings { return settings }, testPool(t))
	answer := func(input string) string {
		_, err := kind.Admit([]byte(`{"pipeline":"p","input":"` + input + `"}`))
		if err == nil {
			return "accepted"
		}
		// The path itself differs; nothing else may.
		return strings.ReplaceAll(err.Error(), input, "PATH")
	}

	var first string
	for what, p := range paths(outside) {
		got := answer(p)
		if !strings.Contains(got, "outside allowed_input_roots") {
			t.Errorf("%s outside the roots: %q, want a refusal naming allowed_input_roots", what, got)
		}
		if first == "" {
			first = got
		} else if got != first {
			t.Errorf("%s outside the roots answers %q, another path %q: the answers tell them apart", what, got, first)
		}
	}

	inside := map[string]bool{}
	for _, p := range paths(uploads) {
		inside[answer(p)] = true
	}
	if len(inside) < 3 {
		t.Errorf("inside the roots the paths get %d different answers (%v); the test shows nothing if they cannot be told apart there", len(inside), inside)
	}
}

// Roots: none allows nothing, "/" allows anywhere, a root may be named as
// written or through its symlinks, and a path must lie under a root both
// as given and as its symlinks resolve.
func TestAllowedInputRoots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	uploads := filepath.Join(dir, "uploads")
	os.Mkdir(uploads, 0o755)
	pic := write(t, uploads, "cat.jpg", encodeJPEG(t, gradient(40, 30)))
	elsewhere := write(t, t.TempDir(), "dog.jpg", encodeJPEG(t, gradient(40, 30)))
	linkToUploads := filepath.Join(dir, "link")
	if err := os.Symlink(uploads, linkToUploads); err != nil {
		t.Fatal(err)
	}
	escape := filepath.Join(uploads, "escape.jpg")
	if err := os.Symlink(elsewhere, escape); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		roots []string
		input string
		want  string // "" accepted, else part of the refusal
	}{
		{nil, pic, "outside allowed_input_roots []"},
		{[]string{}, pic, "outside allowed_input_roots []"},
		{[]string{"/"}, pic, ""},
		{[]string{"/"}, elsewhere, ""},
		{[]string{uploads}, pic, ""},
		{[]string{uploads + "/"}, pic, ""},
		{[]string{uploads}, elsewhere, "is outside allowed_input_roots"},
		{[]string{uploads}, uploads + "-other/cat.jpg", "is outside allowed_input_roots"},
		{[]string{linkToUploads}, pic, ""},
		{[]string{uploads}, filepath.Join(linkToUploads, "cat.jpg"), "is outside allowed_input_roots"},
		{[]string{uploads}, escape, "resolves to " + elsewhere + ", outside allowed_input_roots"},
		{[]string{uploads, filepath.Dir(elsewhere)}, escape, ""},
	} {
		lim := DefaultImagesConfig().InputLimits
		lim.AllowedInputRoots = c.roots
		_, err := lim.CheckInput(c.input)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("roots %q, input %s: %v, want it allowed", c.roots, c.input, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("roots %q, input %s: %v, want %q", c.roots, c.input, err, c.want)
		}
	}
}

// A config that names no roots gets the upload directory of its state
// directory; one that lists none keeps none.
func TestFillInputRoots(t *testing.T) {
	t.Parallel()
	c := DefaultImagesConfig()
	c.FillInputRoots("/var/lib/kiln")
	if len(c.AllowedInputRoots) != 1 || c.AllowedInputRoots[0] != "/var/lib/kiln/uploads" {
		t.Errorf("unset roots filled as %q, want [/var/lib/kiln/uploads]", c.AllowedInputRoots)
	}
	c.AllowedInputRoots = []string{}
	c.FillInputRoots("/var/lib/kiln")
	if len(c.AllowedInputRoots) != 0 {
		t.Errorf("an empty list became %q", c.AllowedInputRoots)
	}
}

// kilnd creates a missing upload directory as the packages do: group
// kiln may write, setgid; an existing one keeps its mode.
func TestMakeUploadDir(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	if err := MakeUploadDir(state); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(UploadDir(state))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode() & (os.ModePerm | os.ModeSetgid); got != os.ModeSetgid|0o770 {
		t.Errorf("upload directory mode %v, want %v", got, os.ModeSetgid|0o770)
	}
	os.Chmod(UploadDir(state), 0o750)
	if err := MakeUploadDir(state); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(UploadDir(state)); st.Mode().Perm() != 0o750 {
		t.Errorf("an existing upload directory's mode was changed to %v", st.Mode())
	}
}
