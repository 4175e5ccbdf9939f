package command

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strings"
)

// Bounds on what is kept of a program's standard error.
const (
	// StderrTailLines is how many of its last lines a failed attempt's
	// error quotes.
	StderrTailLines = 20
	// maxLineBytes bounds one line as logged and kept; the rest of a
	// longer line is dropped.
	maxLineBytes = 1024
	// maxLoggedLines bounds the lines one run writes to the log, so that a
	// chatty program cannot flood it; the tail is kept regardless.
	maxLoggedLines = 1000
)

// readLines calls line for each line of r, without its end, at most
// maxLineBytes of it, made valid UTF-8.
func readLines(r io.Reader, line func(string)) error {
	br := bufio.NewReaderSize(r, maxLineBytes)
	var cur []byte
	long := false // the rest of a line longer than maxLineBytes
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 && !long {
			cur = append(cur, chunk[:min(len(chunk), maxLineBytes-len(cur))]...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			long = len(cur) >= maxLineBytes
			continue
		case err == nil || len(cur) > 0:
			s := strings.TrimRight(string(cur), "\r\n")
			line(strings.ToValidUTF8(s, "\uFFFD"))
			cur, long = cur[:0], false
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return err
		}
	}
}

// tail keeps the last n lines it is given.
type tail struct {
	n     int
	lines []string
}

func (t *tail) add(s string) {
	if len(t.lines) == t.n {
		copy(t.lines, t.lines[1:])
		t.lines = t.lines[:t.n-1]
	}
	t.lines = append(t.lines, s)
}
