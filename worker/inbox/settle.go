package inbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"kiln/internal/durable"
)

// settle moves the pictures of ended jobs where they belong, syncs the
// directories they went to, and only then removes their tickets.
func (b *Inbox) settle(ends []End) {
	if len(ends) == 0 {
		return
	}
	synced := map[string]bool{}
	var tickets []string
	for _, end := range ends {
		_, key, ok := parseUniqueKey(end.UniqueKey)
		it := b.items[key]
		if !ok || it == nil {
			continue // settled already, or not this inbox's
		}
		dir, final, err := b.settleOne(it.e, end)
		if err != nil {
			b.log.Error("inbox: cannot move a picture whose job ended; trying again", "name", it.e.name, "err", err)
			if errors.Is(err, fs.ErrNotExist) {
				if err := MakeDirs(b.cfg.Dir); err != nil {
					b.log.Error("inbox: cannot create its directories", "err", err)
				}
			}
			b.unsettled = append(b.unsettled, end)
			b.failedWork()
			continue
		}
		if dir != "" { // "" when it was settled before a restart
			synced[dir] = true
			b.logEnd(it.e, end, dir, final)
		}
		tickets = append(tickets, it.e.ticketName())
		delete(b.items, key)
	}
	for dir := range synced {
		if err := durable.SyncDir(dir); err != nil {
			// The tickets stay: a restart finds them and settles again, or
			// removes them once their pictures are gone.
			b.log.Error("inbox: cannot sync the settled pictures", "err", err)
			return
		}
	}
	for _, t := range tickets {
		if err := os.Remove(filepath.Join(b.processing, t)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			b.log.Warn("inbox: cannot remove a ticket; the next start does", "err", err)
		}
	}
}

func (b *Inbox) logEnd(e entry, end End, dir, final string) {
	switch {
	case end.Succeeded && final == "":
		b.log.Info("inbox: picture done, deleted", "name", e.name, "job", end.Job)
	case end.Succeeded:
		b.log.Info("inbox: picture done", "name", e.name, "job", end.Job, "moved_to", filepath.Join(dir, final))
	default:
		b.log.Warn("inbox: picture failed", "name", e.name, "job", end.Job, "moved_to", filepath.Join(dir, final), "reason", end.Reason)
	}
}

// maxNameTries bounds the names tried for a picture in done/ or failed/
// when its own is taken there.
const maxNameTries = 100

// settleOne moves a picture whose job ended to where it belongs: done/ (or
// nowhere, without inbox_keep), or failed/ beside NAME.error.txt. The
// caller syncs the directory it went to (the returned one, "" for none)
// and only then removes the ticket: until then the start scan finds the
// picture where it was and settles it again.
func (b *Inbox) settleOne(e entry, end End) (dir, final string, err error) {
	src := filepath.Join(b.processing, e.fileName())
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return "", "", nil // settled before a crash made this end be read again
	}
	switch {
	case end.Succeeded && !b.cfg.Keep:
		if err := os.Remove(src); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("remove %s: %w", src, err)
		}
		return b.processing, "", nil
	case end.Succeeded:
		final, err := moveNoReplace(src, b.done, e, "")
		return b.done, final, err
	}
	final, err = moveNoReplace(src, b.failed, e, end.Reason)
	return b.failed, final, err
}

// refuse moves a picture that cannot be taken straight from the inbox to
// failed/ with its reason, and syncs both directories.
func (b *Inbox) refuse(name, reason string) error {
	src := filepath.Join(b.cfg.Dir, name)
	st, err := os.Lstat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("refuse %s: %w", src, err)
	}
	if _, err := moveNoReplace(src, b.failed, entry{key: keyOf(st, name), name: name}, reason); err != nil {
		return err
	}
	return firstErr(durable.SyncDir(b.failed), durable.SyncDir(b.cfg.Dir))
}

// moveNoReplace renames src into dir under e's name, or, when that is
// taken, under the name with part of its key before the extension
// (photo.3f2a9c01.jpg), so that no picture replaces another. With a
// reason, NAME.error.txt is written first: a crash between the two leaves
// the picture where it was, to be settled again under the same name.
func moveNoReplace(src, dir string, e entry, reason string) (string, error) {
	for try := 0; try < maxNameTries; try++ {
		name := altName(e, try)
		if reason != "" {
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				continue
			}
			text := e.name + ": " + strings.TrimSpace(reason) + "\n"
			if err := durable.WriteFile(filepath.Join(dir, name+errorSuffix), []byte(text), 0o640); err != nil {
				return "", err
			}
		}
		err := renameNoReplace(src, filepath.Join(dir, name))
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("move %s into %s: %w", src, dir, err)
		}
		return name, nil
	}
	return "", fmt.Errorf("move %s into %s: %d names like %s are taken there", src, dir, maxNameTries, e.name)
}

// altName is the try'th name of a picture in done/ or failed/.
func altName(e entry, try int) string {
	if try == 0 {
		return e.name
	}
	ext := filepath.Ext(e.name)
	stem := strings.TrimSuffix(e.name, ext)
	tag := e.key[:8]
	if try > 1 {
		tag += "-" + itoa(try)
	}
	name := stem + "." + tag + ext
	if len(name) > 255 {
		name = e.key + "." + itoa(try) + ext
	}
	return name
}

// renameNoReplace renames src to dst unless dst exists (fs.ErrExist). On a
// filesystem without RENAME_NOREPLACE, a look first does nearly as well:
// only kiln moves files into done/ and failed/.
func renameNoReplace(src, dst string) error {
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		if _, err := os.Lstat(dst); err == nil {
			return fs.ErrExist
		}
		return os.Rename(src, dst)
	}
	if errors.Is(err, unix.EEXIST) {
		return fs.ErrExist
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
