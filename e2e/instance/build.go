package instance

import (
	"fmt"
	"os"
	"os/exec"
)

// BuildBinaries builds kilnd, kilnctl and kiln-image-worker (which kilnd
// finds beside itself) into a new temp directory whose
// name starts with prefix, with the race detector when race is set, and
// returns the directory; the caller removes it.
func BuildBinaries(prefix string, race bool) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	args := []string{"build", "-o", dir + "/"}
	if race {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "kiln/cmd/kilnd", "kiln/cmd/kilnctl", "kiln/cmd/kiln-image-worker")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("build kilnd, kilnctl and kiln-image-worker: %w", err)
	}
	return dir, nil
}
