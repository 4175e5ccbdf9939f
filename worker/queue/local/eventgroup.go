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

// eventGroup is the room to write the events of one transaction, whose IDs
// follow one another, as the one value stored for them: the marker, then
// each event's record, preceded by its length. It is kept from commit to
// commit so that the room is made once.
type eventGroup struct {
	value  []byte
	record []byte // one event's record, before its length is known
}

// store puts events, oldest first, into tx's event log as one value, keyed
// by the first's ID. bbolt keeps the value until the transaction commits,
// so the group must not be stored again before then.
func (g *eventGroup) store(tx *bbolt.Tx, events []worker.Event) error {
	if len(events) == 0 {
		return nil
	}
	b := tx.Bucket(bucketEvents)
	b.FillPercent = appendFill
	return b.Put(binary.BigEndian.AppendUint64(nil, events[0].ID), g.encode(events))
}

// encode writes the value of events in the group's room and returns it.
func (g *eventGroup) encode(events []worker.Event) []byte {
	g.value = append(g.value[:0], eventGroupMarker)
	for i := range events {
		g.record = appendEventRecord(g.record[:0], &events[i])
		g.value = binary.AppendUvarint(g.value, uint64(len(g.record)))
		g.value = append(g.value, g.record...)
	}
	return g.value
}

var errBadEventGroup = errors.New("event group is corrupt")

// eachStoredEvent calls fn with each event record of the value stored at
// key first, oldest first, and the records of the group after it (nil for
// a lone record), until fn says to stop.
func eachStoredEvent(first uint64, v []byte, fn func(id uint64, record, after []byte) (more bool, err error)) error {
	if len(v) == 0 || v[0] != eventGroupMarker {
		_, err := fn(first, v, nil)
		return err
	}
	v = v[1:]
	for id := first; len(v) > 0; id++ {
		n, w := binary.Uvarint(v)
		if w <= 0 || n > uint64(len(v)-w) {
			return errBadEventGroup
		}
		record, after := v[w:w+int(n)], v[w+int(n):]
		more, err := fn(id, record, after)
		if err != nil || !more {
			return err
		}
		v = after
	}
	return nil
}

// trimGroup counts the oldest events of the value stored at key first for
// which past holds, at most limit of them, and returns what is left of the
// value without them: nil when nothing is, the value itself when none is
// past, else a new group (the value is the store's memory, valid only
// until the transaction changes it).
func trimGroup(first uint64, v []byte, past func(id uint64, record []byte) bool, limit int) (gone int, rest []byte, err error) {
	rest = v
	err = eachStoredEvent(first, v, func(id uint64, record, after []byte) (bool, error) {
		if gone == limit || !past(id, record) {
			return false, nil
		}
		gone, rest = gone+1, after
		return true, nil
	})
	switch {
	case err != nil:
		return 0, nil, err
	case gone == 0:
		return 0, v, nil
	case len(rest) == 0:
		return gone, nil, nil
	}
	return gone, append([]byte{eventGroupMarker}, rest...), nil
}
