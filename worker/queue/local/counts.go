package local

import (
	"encoding/binary"

	"kiln/worker"
)

// countDeltas holds the count changes of the commit being built, by count
// key. Every job's step changes two counters; a commit of a thousand steps
// then writes each counter once instead of reading and writing it two
// thousand times.
type countDeltas map[string]int64

func (t txn) count(queue string, s worker.State, delta int64) error {
	if t.counts != nil {
		(*t.counts)[string(countKey(queue, s))] += delta
		return nil
	}
	return addCount(t, countKey(queue, s), delta)
}

func addCount(t txn, k []byte, delta int64) error {
	b := t.b(bucketCounts)
	var n int64
	if v := b.Get(k); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += delta
	if n <= 0 {
		return b.Delete(k)
	}
	return b.Put(k, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// countOf is a counter as the transaction sees it, changes not yet
// written included.
func (t txn) countOf(queue string, s worker.State) int {
	k := countKey(queue, s)
	var n int64
	if v := t.b(bucketCounts).Get(k); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	if t.counts != nil {
		n += (*t.counts)[string(k)]
	}
	return int(n)
}

// flushCounts writes the gathered count changes into the transaction.
func (t txn) flushCounts() error {
	if t.counts == nil {
		return nil
	}
	for k, delta := range *t.counts {
		if delta == 0 {
			continue
		}
		if err := addCount(t, []byte(k), delta); err != nil {
			return err
		}
	}
	clear(*t.counts)
	return nil
}
