package local

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"kiln/worker"
)

// Job records (everything but the payload, which is stored apart) are
// stored in a compact binary form: JSON would spend more
// time validating and copying the payload than the rest of a job's life
// costs. Layout: a version byte, then the fields in a fixed order; strings
// and byte fields as uvarint length + bytes, integers as varints, times as
// varint Unix nanoseconds (0 = zero time). The chain fields (parent, then
// the children's count and IDs) follow only in the record of a job that is
// part of a chain: the records of the others stay as they were, and a
// record that ends before them has none.
const recordVersion = 1

var errShortRecord = errors.New("record ends early")

func encodeJob(j *worker.JobRecord) []byte {
	// The payload is stored apart: it takes no room here.
	b := make([]byte, 0, 128+len(j.Result)+len(j.LastError)+64*len(j.Errors))
	b = append(b, recordVersion)
	b = appendString(b, j.ID)
	b = appendString(b, j.Queue)
	b = appendString(b, j.Type)
	b = binary.AppendVarint(b, int64(j.Priority))
	b = appendTime(b, j.RunAt)
	b = binary.AppendVarint(b, int64(j.Attempts))
	b = binary.AppendVarint(b, int64(j.MaxAttempts))
	b = binary.AppendVarint(b, int64(j.Timeout))
	b = appendString(b, j.UniqueKey)
	b = append(b, stateCodes[j.State])
	b = appendString(b, j.LastError)
	b = binary.AppendUvarint(b, uint64(len(j.Errors)))
	for _, e := range j.Errors {
		b = binary.AppendVarint(b, int64(e.Attempt))
		b = appendTime(b, e.At)
		b = appendString(b, e.Error)
	}
	b = appendTime(b, j.CreatedAt)
	b = appendTime(b, j.UpdatedAt)
	b = appendTime(b, j.FinishedAt)
	b = appendTime(b, j.LeaseUntil)
	b = appendBytes(b, j.Result)
	if j.CancelRequested {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	if j.Parent == "" && len(j.Children) == 0 {
		return b
	}
	b = appendString(b, j.Parent)
	b = binary.AppendUvarint(b, uint64(len(j.Children)))
	for _, c := range j.Children {
		b = appendString(b, c)
	}
	return b
}

func decodeJob(data []byte) (*worker.JobRecord, error) {
	d := decoder{b: data}
	if v := d.byte(); v != recordVersion {
		return nil, fmt.Errorf("job record version %d is not %d", v, recordVersion)
	}
	j := &worker.JobRecord{}
	j.ID = d.string()
	j.Queue = d.string()
	j.Type = d.string()
	j.Priority = int(d.varint())
	j.RunAt = d.time()
	j.Attempts = int(d.varint())
	j.MaxAttempts = int(d.varint())
	j.Timeout = worker.Duration(d.varint())
	j.UniqueKey = d.string()
	j.State = stateByCode[d.byte()]
	j.LastError = d.string()
	if n := d.uvarint(); n > 0 && n <= uint64(len(data)) {
		j.Errors = make([]worker.AttemptError, n)
		for i := range j.Errors {
			j.Errors[i] = worker.AttemptError{Attempt: int(d.varint()), At: d.time(), Error: d.string()}
		}
	}
	j.CreatedAt = d.time()
	j.UpdatedAt = d.time()
	j.FinishedAt = d.time()
	j.LeaseUntil = d.time()
	j.Result = d.bytes()
	j.CancelRequested = d.byte() == 1
	if d.err == nil && len(d.b) > 0 {
		j.Parent = d.string()
		switch n := d.uvarint(); {
		case n > uint64(len(d.b)):
			d.fail() // each child takes a byte at least
		case n > 0:
			j.Children = make([]string, n)
			for i := range j.Children {
				j.Children[i] = d.string()
			}
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if j.State == "" {
		return nil, fmt.Errorf("job record has an unknown state")
	}
	return j, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// decoder reads a record, remembering the first error so that callers can
// read every field and check once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errShortRecord
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	if n == 0 {
		return nil
	}
	// Copy: bbolt's memory is only valid inside the transaction.
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) time() time.Time {
	ns := d.varint()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
