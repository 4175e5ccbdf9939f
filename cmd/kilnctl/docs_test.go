package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// commandFlags runs "kilnctl CMD -h" and returns the flags it lists.
func commandFlags(t *testing.T, name string) []string {
	var out, errOut bytes.Buffer
	if code := run([]string{name, "-h"}, &out, &errOut); code != 0 {
		t.Fatalf("kilnctl %s -h: exit %d, %s", name, code, errOut.String())
	}
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  (-[a-z-]+)`).FindAllStringSubmatch(out.String(), -1) {
		flags = append(flags, m[1])
	}
	return flags
}

// The man page and both completions list every command and every flag.
func TestDocsAndCompletionsCoverEveryFlag(t *testing.T) {
	t.Parallel()
	man, err := os.ReadFile("../../packaging/man/kilnctl.1.md")
	if err != nil {
		t.Fatal(err)
	}
	bash, err := os.ReadFile("../../packaging/completion/kilnctl.bash")
	if err != nil {
		t.Fatal(err)
	}
	zsh, err := os.ReadFile("../../packaging/completion/_kilnctl")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range commandNames() {
		if !strings.Contains(string(man), "**"+name) {
			t.Errorf("kilnctl(1) does not describe the command %s", name)
		}
		bashLine := regexp.MustCompile(`(?m)^\s*` + name + `\) flags="([^"]*)"`).FindSubmatch(bash)
		if bashLine == nil {
			t.Errorf("kilnctl.bash has no flags line for %s", name)
			continue
		}
		for _, f := range commandFlags(t, name) {
			if !strings.Contains(string(man), "**"+f+"**") {
				t.Errorf("kilnctl(1) does not name %s %s", name, f)
			}
			if !strings.Contains(" "+string(bashLine[1])+" ", " "+f+" ") {
				t.Errorf("kilnctl.bash does not complete %s %s", name, f)
			}
			if !strings.Contains(string(zsh), "'"+f+"[") && f != "-json" {
				t.Errorf("_kilnctl does not complete %s %s", name, f)
			}
		}
	}
}

// The completion scripts parse in their shells.
func TestCompletionScriptsParse(t *testing.T) {
	t.Parallel()
	for shell, file := range map[string]string{"bash": "kilnctl.bash", "zsh": "_kilnctl"} {
		if _, err := exec.LookPath(shell); err != nil {
			t.Errorf("%s is not installed (make go-test installs it)", shell)
			continue
		}
		if out, err := exec.Command(shell, "-n", "../../packaging/completion/"+file).CombinedOutput(); err != nil {
			t.Errorf("%s -n %s: %v\n%s", shell, file, err, out)
		}
	}
}

// The man page and both completions list every global flag, and the
// environment variables that stand in for them.
func TestDocsAndCompletionsCoverGlobalFlags(t *testing.T) {
	t.Parallel()
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	man := read("../../packaging/man/kilnctl.1.md")
	bash := read("../../packaging/completion/kilnctl.bash")
	zsh := read("../../packaging/completion/_kilnctl")
	bashGlobal := regexp.MustCompile(`compgen -W "(-socket[^"]*)"`).FindStringSubmatch(bash)
	if bashGlobal == nil {
		t.Fatal("kilnctl.bash has no line completing the global flags")
	}
	fs, _ := globalFlags()
	fs.VisitAll(func(f *flag.Flag) {
		name := "-" + f.Name
		if !strings.Contains(man, "**"+name+"**") {
			t.Errorf("kilnctl(1) does not name the global flag %s", name)
		}
		if !strings.Contains(" "+bashGlobal[1]+" ", " "+name+" ") {
			t.Errorf("kilnctl.bash does not complete the global flag %s", name)
		}
		if !strings.Contains(zsh, "'"+name+"[") {
			t.Errorf("_kilnctl does not complete the global flag %s", name)
		}
	})
	for _, env := range []string{"KILN_SOCKET", "KILN_TIMEOUT", "KILN_CONNECT_TIMEOUT"} {
		if !strings.Contains(man, "**"+env+"**") {
			t.Errorf("kilnctl(1) does not describe $%s", env)
		}
	}
}
