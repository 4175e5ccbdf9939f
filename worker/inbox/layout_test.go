package inbox

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Under kiln.service's umask the directories still get the group's write:
// members of group kiln drop pictures into the inbox and take them back
// from done/ and failed/; .processing is kilnd's alone.
func TestMakeDirsGivesTheGroupItsWrite(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "inbox", "web")
	if err := MakeDirs(dir); err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{dir: 0o770, DoneDir(dir): 0o770, FailedDir(dir): 0o770, ProcessingDir(dir): 0o700}
	for path, perm := range want {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != perm {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), perm)
		}
		if perm == 0o770 && st.Mode()&fs.ModeSetgid == 0 {
			t.Errorf("%s: no setgid, which this process may set", path)
		}
	}
}
