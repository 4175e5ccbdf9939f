package inbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// claim moves a picture from the inbox into .processing under its key:
// the first step of its way (see the package doc). ok is false when there
// is nothing to take under name (gone, a directory, a name left alone).
// The rename is durable once the caller has synced both directories.
func (b *Inbox) claim(name string) (e entry, ok bool, err error) {
	if ignored(name) {
		return entry{}, false, nil
	}
	src := filepath.Join(b.cfg.Dir, name)
	st, err := os.Lstat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return entry{}, false, nil // taken already, or moved away again
	}
	if err != nil {
		return entry{}, false, fmt.Errorf("take %s: %w", src, err)
	}
	if !st.Mode().IsRegular() {
		return entry{}, false, nil
	}
	e = entry{key: keyOf(st, name), name: name}
	dst := filepath.Join(b.processing, e.fileName())
	if err := os.Rename(src, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return entry{}, false, nil
		}
		return entry{}, false, fmt.Errorf("take %s into %s: %w", src, b.processing, err)
	}
	return e, true, nil
}
