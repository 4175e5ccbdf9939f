package inbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"kiln/internal/durable"
)

// NoteRunning is called by each attempt of an inbox's job before it reads
// its picture: it makes sure the picture's ticket holds the job's ID, on
// stable storage. A job that may have finished thus always has a ticket,
// which is how the start scan finds it (see the package doc). An input
// that is not a picture in dir's .processing is none of the inbox's
// business, and a picture already gone needs no ticket: its job fails for
// want of it.
func NoteRunning(dir, input, jobID string) error {
	pdir := ProcessingDir(dir)
	if filepath.Dir(input) != pdir {
		return nil
	}
	e, ok := parseEntry(filepath.Base(input))
	if !ok {
		return nil
	}
	if _, err := os.Lstat(input); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	path := filepath.Join(pdir, e.ticketName())
	g := gate(pdir)
	g.Lock()
	defer g.Unlock()
	if id, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(id)) == jobID {
		return nil
	}
	if err := durable.ReplaceFile(path, []byte(jobID+"\n"), 0o640); err != nil {
		return fmt.Errorf("note job %s in inbox %s: %w", jobID, dir, err)
	}
	return nil
}

// readTicket returns the job ID in the ticket of key.
func readTicket(pdir, key string) (string, error) {
	path := filepath.Join(pdir, key+ticketSuffix)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read ticket %s: %w", path, err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" || strings.ContainsAny(id, "\n\x00/") {
		return "", fmt.Errorf("read ticket %s: holds %q, not a job ID", path, b)
	}
	return id, nil
}
