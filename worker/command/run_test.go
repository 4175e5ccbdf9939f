package command

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A program that ends leaving a child behind does not leave it running.
func TestExecuteEndsWhatAProgramLeftBehind(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prog := script(t, dir, "leaver", `sleep 300 &
echo $! > "$1/child"
echo "left one behind"
`)
	log, logged := newLog()
	out, err := Execute(context.Background(), Run{Path: prog, Args: []string{dir}, KillGrace: 5 * time.Second, OutputLimit: OutputLimit, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if ws := out.waitStatus(); ws.ExitStatus() != 0 || out.Stopped != 0 || string(out.Result()) != `"left one behind\n"` {
		t.Fatalf("outcome: status %v, stopped %v, result %s", ws, out.Stopped, out.Result())
	}
	child := atoi(t, readFile(t, filepath.Join(dir, "child")))
	if alive(child) || len(processesInGroup(t, out.PGID)) > 0 {
		t.Fatalf("child %d of group %d still runs", child, out.PGID)
	}
	if !strings.Contains(logged.String(), "left processes running") {
		t.Fatalf("not logged:\n%s", logged.String())
	}
}

// A run that cannot start is an error, and leaves no temporary directory.
func TestExecuteStartError(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	_, err := Execute(context.Background(), Run{Path: filepath.Join(root, "gone"), TempRoot: root, TempPrefix: "x-"})
	var se *StartError
	if err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Fatalf("err = %v", err)
	}
	if !errors.As(err, &se) || se.Path != filepath.Join(root, "gone") {
		t.Fatalf("err = %T, want *StartError", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("left: %v", entries)
	}
}

// Output past the limit is read to its end, so the program is not held
// up, and the outcome says it was cut.
func TestExecuteDrainsOutputPastTheLimit(t *testing.T) {
	t.Parallel()
	prog := script(t, t.TempDir(), "big", `head -c 3000000 /dev/zero`)
	out, err := Execute(context.Background(), Run{Path: prog, KillGrace: time.Second, OutputLimit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if out.waitStatus().ExitStatus() != 0 || !out.OutputCut() || out.output.total != 3000000 || len(out.output.data) != 100 {
		t.Fatalf("status %v, cut %v, %d of %d bytes", out.waitStatus(), out.OutputCut(), len(out.output.data), out.output.total)
	}
}

func TestParseProgress(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]string{
		"progress 0": "0%", "progress 100": "100%", "progress 7/9": "7/9 (77%)", " progress  5 / 10 ": "5/10 (50%)",
	} {
		p, err := parseProgress(line, time.Time{})
		if err != nil || p.String() != want {
			t.Errorf("parseProgress(%q) = %v, %v; want %s", line, p, err, want)
		}
	}
	for _, bad := range []string{"progress 101", "progress -1", "progress 3/0", "progress 5/4", "progress x", "50", "progress 1.5"} {
		if _, err := parseProgress(bad, time.Time{}); err == nil {
			t.Errorf("parseProgress(%q) accepted", bad)
		}
	}
}

func TestStderrLinesBoundedAndValid(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 3000)
	var got []string
	err := readLines(strings.NewReader("one\r\n"+long+"\nbad\xffbyte\nlast without newline"), func(s string) { got = append(got, s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0] != "one" || got[1] != long[:maxLineBytes] || got[2] != "bad\uFFFDbyte" || got[3] != "last without newline" {
		t.Fatalf("lines = %q", got)
	}
	tl := &tail{n: 2}
	for _, s := range []string{"a", "b", "c"} {
		tl.add(s)
	}
	if strings.Join(tl.lines, ",") != "b,c" {
		t.Fatalf("tail = %q", tl.lines)
	}
}

func TestFileSafe(t *testing.T) {
	t.Parallel()
	if got := fileSafe("01M8SPFE0Q09BZT69AEDMWJYJE"); got != "01M8SPFE0Q09BZT69AEDMWJYJE" {
		t.Fatalf("a ULID: %q", got)
	}
	if got := fileSafe("../a/b c\x00é" + strings.Repeat("x", 100)); strings.ContainsAny(got, "/. \x00") || len(got) != 64 {
		t.Fatalf("a foreign ID: %q", got)
	}
}
