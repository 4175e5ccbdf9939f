package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kiln/worker"
	"kiln/worker/image/imageapi"
	"kiln/worker/image/imagetest"
)

// Hostile and broken pictures through the real daemon: refused at submit
// when that can be known without decoding, dead with the reason otherwise;
// the daemon keeps serving and good jobs finish.
func TestHostilePicturesThroughKilnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	uploads := filepath.Join(e.dir, "uploads")
	os.MkdirAll(uploads, 0o755)
	e.writeConfig(t, e.configText("", `
[images]
max_input_bytes = "200KiB"
max_pixels = 50_000_000
allowed_input_roots = ["`+uploads+`"]
`))
	e.start(t)
	good := e.picture(t, "good.jpg", 400, 300)
	os.Rename(good, filepath.Join(uploads, "good.jpg"))
	good = filepath.Join(uploads, "good.jpg")
	os.Symlink("/etc/shadow", filepath.Join(uploads, "shadow.jpg"))
	big := e.picture(t, "big.jpg", 2000, 2000)
	os.Rename(big, filepath.Join(uploads, "big.jpg"))
	os.WriteFile(filepath.Join(uploads, "bomb.png"), imagetest.PNGBomb(30000, 30000), 0o644)
	outside := e.picture(t, "outside.jpg", 100, 100)

	for name, tc := range map[string]struct {
		file, want string
	}{
		"symlink to /etc/shadow": {filepath.Join(uploads, "shadow.jpg"), "resolves to /etc/shadow, outside allowed_input_roots"},
		"outside the roots":      {outside, "outside allowed_input_roots"},
		"over max_input_bytes":   {filepath.Join(uploads, "big.jpg"), "over max_input_bytes (200KiB)"},
	} {
		r := e.kilnctl(t, "submit", "-pipeline", "web", tc.file)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, %q; want refusal with %q", name, r.code, r.stderr, tc.want)
		}
	}

	// kilnctl makes paths absolute (and so clean); an application may not.
	ctx := context.Background()
	_, err := e.client().Submit(ctx, imageapi.Request("web", uploads+"/../pics/outside.jpg"))
	if err == nil || !strings.Contains(err.Error(), `contains ".."`) {
		t.Errorf("dot-dot path: %v", err)
	}
	bomb, err := e.client().Submit(ctx, imageapi.Request("web", filepath.Join(uploads, "bomb.png")))
	if err != nil {
		t.Fatal(err)
	}
	fine, err := e.client().Submit(ctx, imageapi.Request("web", good))
	if err != nil {
		t.Fatal(err)
	}
	if j := e.finished(t, bomb.ID); j.State != worker.StateDead || j.Attempts != 1 || !strings.Contains(j.LastError, "30000x30000 = 900000000 pixels, over max_pixels") {
		t.Errorf("decompression bomb: %s after %d attempts: %q", j.State, j.Attempts, j.LastError)
	}
	if j := e.finished(t, fine.ID); j.State != worker.StateSucceeded {
		t.Errorf("good picture beside the hostile ones: %s %q", j.State, j.LastError)
	}
}
