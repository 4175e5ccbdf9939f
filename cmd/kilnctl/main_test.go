package main

import (
	"bytes"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"kiln/internal/buildversion"
)

func TestFlagsMayFollowFiles(t *testing.T) {
	t.Parallel()
	c := &submitCommand{}
	if err := c.ParseFlags([]string{"-pipeline", "web", "a.jpg", "-wait", "b.jpg", "-json"}); err != nil {
		t.Fatal(err)
	}
	if c.pipeline != "web" || !c.wait || !c.json || len(c.files) != 2 {
		t.Fatalf("parsed %+v", c)
	}
	for _, f := range c.files {
		if !filepath.IsAbs(f) {
			t.Errorf("file %q not made absolute: the daemon reads it from its own cwd", f)
		}
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	v := fs.Bool("v", false, "")
	rest, err := parseInterleaved(fs, []string{"one", "-v", "two"})
	if err != nil || !*v || strings.Join(rest, ",") != "one,two" {
		t.Fatalf("parseInterleaved: %v %v %v", rest, *v, err)
	}
}

func TestUnreachableDaemonIsAClearError(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "none.sock")
	var out, errOut bytes.Buffer
	code := run([]string{"-socket", sock, "status"}, &out, &errOut)
	if code != exitUnreachable || !strings.Contains(errOut.String(), "connect to kilnd at "+sock) {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"frobnicate"}, {"job"}, {"submit", "-pipeline", "web"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("kilnctl %v: exit %d, stderr %q; want 2 and a message", args, code, errOut.String())
		}
	}
}

func TestHelpGoesToStdout(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"help", "submit"}, {"status", "-h"}, {"pause", "--help"}, {"job", "-h"}, {"reload", "-help"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 0 || out.Len() == 0 || errOut.Len() != 0 {
			t.Errorf("kilnctl %v: exit %d, stdout %q, stderr %q; want 0, help on stdout, nothing on stderr", args, code, out.String(), errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	run([]string{"pause", "-h"}, &out, &errOut)
	if !strings.Contains(out.String(), "-json") {
		t.Errorf("pause -h does not list -json: %q", out.String())
	}
}

func TestFlagErrorSaidOnce(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-bogus"}, {"status", "-bogus"}, {"submit", "-pipeline", "web", "-bogus", "a.jpg"}} {
		var out, errOut bytes.Buffer
		code := run(args, &out, &errOut)
		if n := strings.Count(errOut.String(), "-bogus"); code != 2 || n != 1 {
			t.Errorf("kilnctl %v: exit %d, stderr %q; want 2 and the bad flag named once", args, code, errOut.String())
		}
		if strings.Contains(errOut.String(), "Commands:") || strings.Contains(errOut.String(), "Usage of") {
			t.Errorf("kilnctl %v: the whole usage follows the error: %q", args, errOut.String())
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := run([]string{"-version"}, &out, &errOut); code != 0 || out.String() != "kilnctl "+buildversion.Of(version)+"\n" {
		t.Fatalf("exit %d, stdout %q", code, out.String())
	}
}

func TestEveryCommandTakesJSON(t *testing.T) {
	t.Parallel()
	for _, name := range commandNames() {
		var out, errOut bytes.Buffer
		run([]string{name, "-h"}, &out, &errOut)
		if !strings.Contains(out.String(), "-json") {
			t.Errorf("kilnctl %s has no -json: %q", name, out.String())
		}
	}
}
