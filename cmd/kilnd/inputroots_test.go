package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kiln/api"
	"kiln/worker/image/imageapi"
)

// With the default allowed_input_roots (the config names none), kilnd
// creates the upload directory under state_dir and reads pictures there
// only. Anywhere else a submit gets one answer whatever the path holds: a
// picture, a file kilnd cannot read, one that is not a picture, a
// directory, or nothing, so that a submit token cannot map the host's
// files. The same over kilnctl's stream.
func TestDefaultInputRootIsTheUploadDirectory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	text := strings.Replace(e.configText("", ""), fmt.Sprintf("allowed_input_roots = [%q]\n", e.pics), "", 1)
	if strings.Contains(text, "allowed_input_roots") {
		t.Fatal("the test config still sets allowed_input_roots")
	}
	e.writeConfig(t, text)
	e.start(t)

	uploads := filepath.Join(e.state, "uploads")
	st, err := os.Stat(uploads)
	if err != nil {
		t.Fatalf("kilnd did not create the upload directory: %v", err)
	}
	if mode := st.Mode() & (os.ModePerm | os.ModeSetgid); mode != os.ModeSetgid|0o770 {
		t.Errorf("upload directory mode %v, want %v", mode, os.ModeSetgid|0o770)
	}

	unreadable := e.picture(t, "secret.jpg", 64, 48)
	os.Chmod(unreadable, 0)
	notPicture := filepath.Join(e.pics, "notes.jpg")
	os.WriteFile(notPicture, []byte("just words"), 0o644)
	dir := filepath.Join(e.pics, "album.jpg")
	os.Mkdir(dir, 0o755)
	outside := map[string]string{
		"picture":     e.picture(t, "cat.jpg", 64, 48),
		"unreadable":  unreadable,
		"not picture": notPicture,
		"directory":   dir,
		"missing":     filepath.Join(e.pics, "missing.jpg"),
		"/etc":        "/etc/shadow",
	}
	ctx := context.Background()
	var first string
	for what, path := range outside {
		_, err := e.client().Submit(ctx, imageapi.Request("web", path))
		var re *api.RequestError
		if !asRequestError(err, &re) || re.Status != 400 {
			t.Errorf("%s (%s) outside the roots: %v, want a 400", what, path, err)
			continue
		}
		answer := strings.ReplaceAll(re.Message, path, "PATH")
		if !strings.Contains(answer, "outside allowed_input_roots ["+uploads+"]") {
			t.Errorf("%s outside the roots: %q, want it named outside allowed_input_roots", what, re.Message)
		}
		if first == "" {
			first = answer
		} else if answer != first {
			t.Errorf("%s outside the roots answers %q, another path %q: the answers tell them apart", what, answer, first)
		}
	}
	for _, what := range []string{"picture", "missing"} {
		r := e.kilnctl(t, "submit", "-pipeline", "web", outside[what])
		if r.code != 1 || !strings.Contains(r.stderr, outside[what]+" is outside allowed_input_roots") {
			t.Errorf("kilnctl submit of the %s outside the roots: exit %d, %q", what, r.code, r.stderr)
		}
	}

	// A picture in the upload directory runs.
	pic := filepath.Join(uploads, "cat.jpg")
	if err := os.Rename(outside["picture"], pic); err != nil {
		t.Fatal(err)
	}
	if r := e.kilnctl(t, "submit", "-pipeline", "web", "-wait", pic); r.code != 0 || !strings.Contains(r.stdout, "succeeded") {
		t.Fatalf("submit from the upload directory: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	st2, err := e.client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := st2.Queues["images"].Counts["succeeded"]; n != 1 {
		t.Errorf("%d jobs succeeded, want the one from the upload directory alone", n)
	}
}

func asRequestError(err error, re **api.RequestError) bool {
	r, ok := err.(*api.RequestError)
	*re = r
	return ok
}
