package main

import (
	"strings"
	"testing"
)

// A file that still says allowed_input_roots = [] (what an empty list
// meant before: anywhere) is valid, but every submitted picture would be
// refused: -check-config warns of it and still says config OK, a start
// logs it, and a picture submitted from elsewhere is refused with the
// same key named.
func TestEmptyInputRootsAreWarnedOf(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, e.configText("", "\n[images]\nallowed_input_roots = []\n"))
	want := "images.allowed_input_roots is empty: every image job submitted is refused"

	out, err := execKilnd(t, "-check-config", "-config", e.config)
	if err != nil || !strings.Contains(out, "config OK") {
		t.Fatalf("-check-config: %v\n%s", err, out)
	}
	if !strings.Contains(out, "warning: "+want) {
		t.Errorf("-check-config does not warn of the empty list:\n%s", out)
	}

	d := e.start(t)
	d.waitLog(t, want)
	pic := e.picture(t, "a.jpg", 64, 48)
	r := e.kilnctl(t, "submit", "-pipeline", "web", pic)
	if r.code == 0 || !strings.Contains(r.stderr, "outside allowed_input_roots") {
		t.Errorf("a picture with no root allowing it: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
