package daemon

import (
	"runtime/debug"
	"runtime/metrics"
	"time"

	"kiln/worker"
)

// Go's scavenger hands free heap back to the kernel slowly, a few
// megabytes a second at most: a host that has just run a million jobs, or
// read a long history, would hold the peak of that burst for minutes, and
// its RSS would say so. Once the daemon is quiet (no job finished and none
// runs for idleEvery) and the free heap not yet handed back is over
// idleReturnOver, it is handed back at once.

// idleEvery is how often the daemon looks whether it is quiet.
const idleEvery = time.Second

// idleReturnOver is the free heap a quiet daemon keeps for its next burst.
const idleReturnOver = 32 << 20

// freeHeapMetric is the runtime's free heap not yet handed back.
const freeHeapMetric = "/memory/classes/heap/free:bytes"

// idleMemory follows the pool from one look to the next.
type idleMemory struct {
	finished int64 // jobs finished at the last tick
	sample   []metrics.Sample
}

func newIdleMemory() *idleMemory {
	return &idleMemory{sample: []metrics.Sample{{Name: freeHeapMetric}}}
}

// quiet reports whether no job finished since the last look and none runs.
func (m *idleMemory) quiet(st worker.Stats) bool {
	finished := st.Succeeded + st.Failed
	changed := finished != m.finished
	m.finished = finished
	return !changed && st.Running == 0
}

// freeHeap is the free heap the runtime has not handed back.
func (m *idleMemory) freeHeap() uint64 {
	metrics.Read(m.sample)
	if m.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return m.sample[0].Value.Uint64()
}

// tick hands the free heap back when the daemon is quiet and holds more
// than idleReturnOver of it; it returns how much was free then, 0 when it
// kept it.
func (m *idleMemory) tick(st worker.Stats) uint64 {
	if !m.quiet(st) {
		return 0
	}
	free := m.freeHeap()
	if free <= idleReturnOver {
		return 0
	}
	debug.FreeOSMemory()
	return free
}
