package local

import (
	"encoding/binary"
	"errors"

	"go.etcd.io/bbolt"

	"kiln/worker"
)

// eventGroupMarker begins a stored group of events. A value without it is
// one event record as format 4 stored them (its first byte is the top of
// a Unix time in nanoseconds, which is 0xff only before 1970), so that a
// store written by that format reads on without a rewrite.
const eventGroupMarker = 0xff

// eventGroup gathers the events of one transaction, whose IDs follow one
// another, into the one value it stores: the marker, then each event's
// record, preceded by its length.
type eventGroup struct {
	first uint64 // the ID of the first event; meaningless while n is 0
	n     int
	value []byte
	// record is room to write one event's record before its length.
	record []byte
}

func (g *eventGroup) reset() { g.n, g.value = 0, g.value[:0] }

// add appends e, whose ID id follows the group's last.
func (g *eventGroup) add(id uint64, e *worker.Event) {
	if g.n == 0 {
		g.first = id
		g.value = append(g.value[:0], eventGroupMarker)
	}
	g.record = appendEventRecord(g.record[:0], e)
	g.value = binary.AppendUvarint(g.value, uint64(len(g.record)))
	g.value = append(g.value, g.record...)
	g.n++
}

// store puts the group into tx's event log. bbolt keeps the value until
// the transaction commits, so the group must not change before then.
func (g *eventGroup) store(tx *bbolt.Tx) error {
	if g.n == 0 {
		return nil
	}
	b := tx.Bucket(bucketEvents)
	b.FillPercent = appendFill
	return b.Put(binary.BigEndian.AppendUint64(nil, g.first), g.value)
}

var errBadEventGroup = errors.New("event group is corrupt")

// eachStoredEvent calls fn with each event record of the value stored at
// key first, oldest first, until fn says to stop.
func eachStoredEvent(first uint64, v []byte, fn func(id uint64, record []byte) (more bool, err error)) error {
	if len(v) == 0 || v[0] != eventGroupMarker {
		_, err := fn(first, v)
		return err
	}
	v = v[1:]
	for id := first; len(v) > 0; id++ {
		n, w := binary.Uvarint(v)
		if w <= 0 || n > uint64(len(v)-w) {
			return errBadEventGroup
		}
		more, err := fn(id, v[w:w+int(n)])
		if err != nil || !more {
			return err
		}
		v = v[w+int(n):]
	}
	return nil
}

// trimGroup counts the oldest events of the value stored at key first for
// which past holds, at most limit of them, and returns what is left of the
// value without them: nil when nothing is, the value itself when none is
// past, else a new group (the value is the store's memory, valid only
// until the transaction changes it).
func trimGroup(first uint64, v []byte, past func(id uint64, record []byte) bool, limit int) (gone int, rest []byte, err error) {
	if len(v) == 0 || v[0] != eventGroupMarker {
		if limit > 0 && past(first, v) {
			return 1, nil, nil
		}
		return 0, v, nil
	}
	body := v[1:]
	for id := first; len(body) > 0 && gone < limit; id++ {
		n, w := binary.Uvarint(body)
		if w <= 0 || n > uint64(len(body)-w) {
			return 0, nil, errBadEventGroup
		}
		if !past(id, body[w:w+int(n)]) {
			break
		}
		body = body[w+int(n):]
		gone++
	}
	switch {
	case len(body) == 0:
		return gone, nil, nil
	case gone == 0:
		return 0, v, nil
	}
	return gone, append([]byte{eventGroupMarker}, body...), nil
}
