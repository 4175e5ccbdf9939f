package dashboard

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// errOutside is a file that is not inside its root.
var errOutside = errors.New("outside the output directory")

// openInside opens path for reading only if it lies inside root: no ".."
// in it, and no symlink on the way out (the real path of both is compared,
// and the file itself is opened without following a symlink).
func openInside(root, path string) (*os.File, error) {
	if root == "" || !filepath.IsAbs(path) {
		return nil, errOutside
	}
	for _, part := range strings.Split(path, string(filepath.Separator)) {
		if part == ".." {
			return nil, fmt.Errorf("%w: %q contains \"..\"", errOutside, path)
		}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	realPath, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(realPath, realRoot+string(filepath.Separator)) {
		return nil, fmt.Errorf("%w: %s resolves to %s", errOutside, path, realPath)
	}
	f, err := os.OpenFile(realPath, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file", errOutside, path)
	}
	return f, nil
}

// output serves one of a job's files, by its index in the job's outputs.
func (d *Dashboard) output(w http.ResponseWriter, r *http.Request) {
	j, err := d.backend.Job(r.Context(), r.PathValue("id"))
	if err != nil {
		http.Error(w, "no such job", http.StatusNotFound)
		return
	}
	root, files := d.backend.Outputs(j)
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 || n >= len(files) {
		http.Error(w, "no such output", http.StatusNotFound)
		return
	}
	f, err := openInside(root, files[n].Path)
	if err != nil {
		if errors.Is(err, errOutside) {
			d.log.Warn("dashboard: refused a job output outside its output directory", "job", j.ID, "path", files[n].Path, "root", root, "err", err)
			http.Error(w, "refused: the file is not inside the pipeline's output directory", http.StatusForbidden)
			return
		}
		http.Error(w, "output not readable", http.StatusNotFound)
		return
	}
	defer f.Close()
	fi, _ := f.Stat()
	if ct := mime.TypeByExtension(filepath.Ext(files[n].Path)); strings.HasPrefix(ct, "image/") {
		w.Header().Set("Content-Type", ct)
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Header().Set("Cache-Control", "private, max-age=60")
	http.ServeContent(w, r, "", fi.ModTime(), f)
}
