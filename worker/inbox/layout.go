package inbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The directories an inbox uses, all inside it so that every move is a
// rename on one filesystem. Their names are fixed: a scan of the inbox
// skips directories, and .processing is a dot-name besides.
const (
	processingDir = ".processing"
	doneDir       = "done"
	failedDir     = "failed"
	ticketSuffix  = ".job"
	errorSuffix   = ".error.txt"
)

// ProcessingDir is where the pictures of inbox dir wait for their jobs:
// the jobs' inputs are there.
func ProcessingDir(dir string) string { return filepath.Join(dir, processingDir) }

// DoneDir is where the pictures of inbox dir go once their jobs
// succeeded.
func DoneDir(dir string) string { return filepath.Join(dir, doneDir) }

// FailedDir is where the pictures of inbox dir go once refused or dead.
func FailedDir(dir string) string { return filepath.Join(dir, failedDir) }

// dirMode lets the kiln group drop pictures and take them back; setgid
// keeps what is dropped in that group, readable by kilnd whatever the
// writer's umask.
const dirMode = fs.ModeSetgid | 0o770

// MakeDirs creates an inbox and the directories it uses where they are
// missing, with the modes the packages give them; those that exist keep
// theirs.
func MakeDirs(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create inbox directory %s: %w", dir, err)
	}
	for _, d := range []struct {
		path string
		mode fs.FileMode
	}{{dir, dirMode}, {ProcessingDir(dir), 0o700}, {DoneDir(dir), dirMode}, {FailedDir(dir), dirMode}} {
		err := os.Mkdir(d.path, d.mode.Perm())
		if errors.Is(err, fs.ErrExist) {
			if st, serr := os.Stat(d.path); serr == nil && !st.IsDir() {
				return fmt.Errorf("create inbox directory %s: a file is in the way", d.path)
			}
			continue
		}
		if err == nil {
			err = settleMode(d.path, d.mode)
		}
		if err != nil {
			return fmt.Errorf("create inbox directory %s: %w", d.path, err)
		}
	}
	return nil
}

// settleMode gives a directory Mkdir made the mode it is meant to have.
// Under the packages' /var/lib/kiln/inbox, whose default ACL and setgid
// bit the tmpfiles.d entry sets, Mkdir alone gives it: the umask does not
// apply under a default ACL, and setgid is inherited. Elsewhere the umask
// (kiln.service has 0027) takes the group's write away, and kiln.service's
// RestrictSUIDSGID= refuses any chmod that names setgid: then the group's
// write, which members of group kiln need to drop pictures, is given
// without setgid rather than not at all.
func settleMode(path string, want fs.FileMode) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	got := st.Mode() & (fs.ModePerm | fs.ModeSetgid)
	if got.Perm() == want.Perm() && (got&fs.ModeSetgid != 0 || want&fs.ModeSetgid == 0) {
		return nil
	}
	err = os.Chmod(path, want|got&fs.ModeSetgid)
	if errors.Is(err, fs.ErrPermission) && (want|got)&fs.ModeSetgid != 0 {
		err = os.Chmod(path, want.Perm())
	}
	return err
}

// entry is a picture in .processing: KEY_NAME.
type entry struct {
	key  string // the hashed identity, keyLen hex digits
	name string // the name it was dropped under
}

func (e entry) fileName() string   { return e.key + "_" + e.name }
func (e entry) ticketName() string { return e.key + ticketSuffix }

// parseEntry reads a picture's name in .processing; ok is false for
// anything else there (a ticket, a temp file).
func parseEntry(fileName string) (entry, bool) {
	key, name, ok := strings.Cut(fileName, "_")
	if !ok || !isKey(key) || name == "" {
		return entry{}, false
	}
	return entry{key: key, name: name}, true
}

// parseTicket reads a ticket's name in .processing.
func parseTicket(fileName string) (key string, ok bool) {
	key, ok = strings.CutSuffix(fileName, ticketSuffix)
	return key, ok && isKey(key)
}
