package main

import (
	"bytes"
	"flag"
	"path/filepath"
	"strings"
	"testing"
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
	if code != 1 || !strings.Contains(errOut.String(), "connect to kilnd at "+sock) {
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
