package buildversion

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestOf_StampedWins(t *testing.T) {
	t.Parallel()
	if got := Of("0.2.0"); got != "0.2.0" {
		t.Fatalf("Of(0.2.0) = %q", got)
	}
}

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	rev := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs.revision", Value: "abcdef1234567890"}, {Key: "vcs.modified", Value: modified}}
	}
	for _, c := range []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"go install of a tag", debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}}, "v0.2.0"},
		{"pseudo-version names the commit", debug.BuildInfo{Main: debug.Module{Version: "v0.1.1-0.20261201093000-abcdef123456+dirty"}, Settings: rev("true")}, "v0.1.1-0.20261201093000-abcdef123456+dirty"},
		{"devel with a commit", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev("false")}, "(devel) (commit abcdef123456)"},
		{"devel with changes", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev("true")}, "(devel) (commit abcdef123456, dirty)"},
		{"nothing known", debug.BuildInfo{}, "(devel)"},
	} {
		if got := fromBuildInfo(&c.info); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// A kilnctl built with plain `go build` from this clone says which commit
// it is, not "dev".
func TestOf_PlainGoBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kilnctl")
	}
	t.Parallel()
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a git clone: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "kilnctl")
	build := exec.Command("go", "build", "-o", bin, "kiln/cmd/kilnctl")
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("kilnctl -version: %v\n%s", err, out)
	}
	got := strings.TrimSpace(string(out))
	if strings.Contains(got, "dev ") || strings.HasSuffix(got, " dev") || !strings.Contains(got, strings.TrimSpace(string(head))[:12]) {
		t.Fatalf("kilnctl -version of a plain go build = %q, want the commit %.12s", got, head)
	}
}
