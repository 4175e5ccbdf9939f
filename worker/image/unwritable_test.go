package image

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// An output_dir on a read-only filesystem (as ProtectSystem=strict makes
// everything outside the unit's writable paths) fails the job permanently,
// saying what to change, instead of retrying a job that cannot succeed.
func TestReadOnlyOutputIsPermanent(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a read-only tmpfs needs root; make test runs as root")
	}
	dir := t.TempDir()
	in := write(t, dir, "in.jpg", encodeJPEG(t, gradient(120, 80)))
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", ro).Run() })
	_, err := renderInWorker(t, RenderRequest{Input: in, OutDir: filepath.Join(ro, "web", "job"),
		Variants: []Variant{{Name: "a", Width: 10, Fit: "inside", Gravity: "centre", Format: "png"}}, Limits: imagesFor(dir).InputLimits})
	var re *RenderError
	if !errors.As(err, &re) || !re.Permanent || !strings.Contains(err.Error(), "read-only file system") || !strings.Contains(err.Error(), "ReadWritePaths=") {
		t.Fatalf("render into a read-only output_dir: %v; want a permanent error naming the cause and the drop-in", err)
	}
}
