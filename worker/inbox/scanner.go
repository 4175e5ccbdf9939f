package inbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"kiln/internal/durable"
)

// maxScanned bounds the entries one scan of a directory looks at, so that
// a directory of millions of files costs a bounded pass; the rest are
// seen by later scans, as the first ones are taken.
const maxScanned = 100_000

// scanChunk is how many entries one read of a directory returns.
const scanChunk = 1024

// scanned is what a scan of the inbox found.
type scanned struct {
	ready []string // files that may be taken now
	// recheck is when the youngest file left for being too recent is
	// old enough; zero when none was.
	recheck time.Time
	full    bool // maxScanned was reached: scan again once these are taken
}

// scanInbox lists the files of dir that may be taken: regular files under
// a name that is not ignored, last modified at least settle before now.
// A younger file may still be written to (see the package doc).
func scanInbox(dir string, settle time.Duration, now time.Time) (scanned, error) {
	var out scanned
	err := readDir(dir, func(d fs.DirEntry) {
		name := d.Name()
		if ignored(name) || !d.Type().IsRegular() {
			return
		}
		st, err := d.Info()
		if err != nil {
			return // gone since the read
		}
		if old := st.ModTime().Add(settle); old.After(now) {
			if out.recheck.IsZero() || old.Before(out.recheck) {
				out.recheck = old
			}
			return
		}
		out.ready = append(out.ready, name)
	}, &out.full)
	if err != nil {
		return scanned{}, fmt.Errorf("scan inbox %s: %w", dir, err)
	}
	return out, nil
}

// readDir calls fn for the entries of dir, at most maxScanned of them;
// full says when it stopped there.
func readDir(dir string, fn func(fs.DirEntry), full *bool) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	for seen := 0; seen < maxScanned; {
		entries, err := f.ReadDir(scanChunk)
		for _, d := range entries {
			fn(d)
		}
		seen += len(entries)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	*full = true
	return nil
}

// processing is what a scan of .processing found: the pictures kiln has
// taken, the tickets of their jobs, and what neither is.
type processing struct {
	entries   []entry
	tickets   map[string]bool // by key
	leftovers []string        // temp files of a ticket write a crash cut short
	full      bool
}

func scanProcessing(dir string) (processing, error) {
	out := processing{tickets: map[string]bool{}}
	err := readDir(dir, func(d fs.DirEntry) {
		name := d.Name()
		if !d.Type().IsRegular() {
			return
		}
		if e, ok := parseEntry(name); ok {
			out.entries = append(out.entries, e)
		} else if key, ok := parseTicket(name); ok {
			out.tickets[key] = true
		} else if m, _ := filepath.Match(durable.TempPattern, name); m {
			out.leftovers = append(out.leftovers, name)
		}
	}, &out.full)
	if err != nil {
		return processing{}, fmt.Errorf("scan %s: %w", dir, err)
	}
	return out, nil
}
