package main

import (
	"bytes"
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
