package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The upload directory is where pictures wait for kilnd unless the config
// lists other allowed_input_roots: a config that names none allows only
// this one, so that a fresh install lets no submitter have kilnd read, or
// probe, the host's other files.

// UploadDir is the upload directory under a state directory.
func UploadDir(stateDir string) string { return filepath.Join(stateDir, "uploads") }

// uploadDirMode lets the kiln group, whose members may use the control
// socket, write pictures there too; setgid keeps them in that group, so
// kilnd can read them whatever the writer's umask leaves to others.
const uploadDirMode = fs.ModeSetgid | 0o770

// FillInputRoots sets allowed_input_roots to the upload directory of
// stateDir when the config gives none. An empty list stays empty: it
// allows nothing.
func (c *ImagesConfig) FillInputRoots(stateDir string) {
	if c.AllowedInputRoots == nil {
		c.AllowedInputRoots = []string{UploadDir(stateDir)}
	}
}

// MakeUploadDir creates the upload directory of stateDir when it is
// missing, with the mode the packages give it; one that exists is left as
// it is, its mode the operator's.
func MakeUploadDir(stateDir string) error {
	dir := UploadDir(stateDir)
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err == nil {
		// Mkdir's mode passes through the umask (kiln.service has 0027);
		// the group must be able to write.
		err = os.Chmod(dir, uploadDirMode)
	}
	if err != nil {
		return fmt.Errorf("create upload directory %s: %w", dir, err)
	}
	return nil
}
