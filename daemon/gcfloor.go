package daemon

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Go's collector starts a cycle when the heap has grown by GOGC percent
// (100) over what the last cycle left live. kilnd's live heap is small,
// ten to twenty megabytes, while thousands of requests a second allocate
// through it: it would collect dozens of times a second, and over a tenth
// of its CPU went to marking. So while it allocates fast, the heap may
// grow to gcFloor before a cycle, whatever the live heap; once the live
// heap itself nears the floor (a large history, say), the collector works
// as Go's default.
//
// The cost is memory, up to the floor in garbage between two cycles, and
// it is paid only while the daemon allocates fast enough for the
// collector's CPU to matter (busyAllocRate): a daemon serving image jobs,
// a few a second, keeps Go's pacing and its small heap. A quiet daemon
// hands its free heap back (idlememory.go).

// gcFloor is the heap below which no collection starts while busy.
const gcFloor = 32 << 20

// busyAllocRate is the allocation rate, in bytes a second, from which the
// floor applies: at it, Go's default pacing on a small heap would collect
// about once a second.
const busyAllocRate = 16 << 20

// maxGCPercent bounds the percentage the floor sets on a tiny live heap,
// where the collector's pacing becomes coarse.
const maxGCPercent = 1000

// The runtime's figures the tuner reads: the heap the last cycle found
// live, and all the heap allocated since the process started.
const (
	liveHeapMetric  = "/gc/heap/live:bytes"
	allocatedMetric = "/gc/heap/allocs:bytes"
)

// gcPercentFor is the GOGC that lets a heap whose live part is live grow to
// gcFloor before a cycle, but never below Go's default.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return maxGCPercent
	}
	p := int(gcFloor*100/live) - 100
	return min(max(p, 100), maxGCPercent)
}

// gcFloorTuner sets the collector's percentage after each cycle, from the
// live heap that cycle found and the rate of allocation since the cycle
// before.
type gcFloorTuner struct {
	sample    []metrics.Sample
	percent   int
	allocated uint64
	at        time.Time
	stopped   atomic.Bool
}

// startGCFloor keeps the floor until stop is called. An operator's GOGC
// (or GOMEMLIMIT, which paces the collector by another rule) is left alone.
func startGCFloor() (stop func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	t := &gcFloorTuner{sample: []metrics.Sample{{Name: liveHeapMetric}, {Name: allocatedMetric}}, percent: 100, at: time.Now()}
	t.tune(time.Now())
	t.arm()
	return func() {
		t.stopped.Store(true)
		debug.SetGCPercent(100)
	}
}

// gcSentinel is garbage the moment it is made: its finalizer runs after the
// next cycle, tunes, and makes the next one. It holds a pointer so that
// the runtime does not pack it with other small objects, whose finalizers
// would then wait for all of them.
type gcSentinel struct{ _ *gcFloorTuner }

func (t *gcFloorTuner) arm() {
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		if t.stopped.Load() {
			return
		}
		t.tune(time.Now())
		t.arm()
	})
}

func (t *gcFloorTuner) tune(now time.Time) {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 || t.sample[1].Value.Kind() != metrics.KindUint64 {
		return
	}
	live, allocated := t.sample[0].Value.Uint64(), t.sample[1].Value.Uint64()
	p := gcPercentAfter(live, allocated-t.allocated, now.Sub(t.at))
	t.allocated, t.at = allocated, now
	if p != t.percent {
		t.percent = p
		debug.SetGCPercent(p)
	}
}

// gcPercentAfter is the percentage for the next cycle, after one that found
// live bytes live, allocated bytes having been allocated in the time since
// the cycle before.
func gcPercentAfter(live, allocated uint64, since time.Duration) int {
	if since <= 0 || float64(allocated)/since.Seconds() < busyAllocRate {
		return 100
	}
	return gcPercentFor(live)
}
