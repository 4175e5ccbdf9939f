package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"
)

// OutputLimit is how much of a program's standard output becomes its
// job's result: results are stored with the job, and kept as long as it.
const OutputLimit = 64 << 10

// captured is a program's standard output: the first limit bytes, and how
// many it wrote in all. The rest is read and dropped, so that a program
// that writes more is never blocked on a full pipe.
type captured struct {
	data  []byte
	total int64
}

func capture(r io.Reader, limit int) (captured, error) {
	var c captured
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if keep := min(n, limit-len(c.data)); keep > 0 {
			c.data = append(c.data, buf[:keep]...)
		}
		c.total += int64(n)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
				return c, nil
			}
			return c, err
		}
	}
}

// cut reports whether the program wrote more than was kept.
func (c captured) cut() bool { return c.total > int64(len(c.data)) }

// result is the job's result made of the output: the JSON value itself
// when the output is one, else the text as a JSON string. Output that was
// cut is always a string, ending with a marker that says where it was cut
// and how much there was. No output is no result.
func (c captured) result() json.RawMessage {
	trimmed := bytes.TrimSpace(c.data)
	if len(trimmed) == 0 && !c.cut() {
		return nil
	}
	if !c.cut() && json.Valid(trimmed) {
		return json.RawMessage(trimmed)
	}
	text := c.data
	if c.cut() {
		// Cut at a character's start, not inside one.
		for i := 0; i < utf8.UTFMax && len(text) > 0 && !utf8.Valid(text); i++ {
			text = text[:len(text)-1]
		}
		text = append(text[:len(text):len(text)], fmt.Sprintf("\n[kiln: output cut at %d of %d bytes]", len(c.data), c.total)...)
	}
	// Marshal turns bytes that are not UTF-8 into U+FFFD.
	b, _ := json.Marshal(string(text))
	return b
}
