package daemon

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCFloor_PercentAfter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		live      uint64
		allocated uint64
		since     time.Duration
		want      int
	}{
		{name: "slow allocation keeps Go's default", live: 8 << 20, allocated: 4 << 20, since: time.Second, want: 100},
		{name: "busy, small live heap: grows to the floor", live: 8 << 20, allocated: 64 << 20, since: time.Second, want: 300},
		{name: "busy, live heap near the floor: Go's default", live: 20 << 20, allocated: 64 << 20, since: time.Second, want: 100},
		{name: "busy, live heap over the floor: Go's default", live: 200 << 20, allocated: 1 << 30, since: time.Second, want: 100},
		{name: "busy, tiny live heap: capped", live: 1 << 20, allocated: 64 << 20, since: 100 * time.Millisecond, want: maxGCPercent},
		{name: "busy at the rate itself", live: 4 << 20, allocated: busyAllocRate, since: time.Second, want: 700},
		{name: "no time measured", live: 8 << 20, allocated: 64 << 20, since: 0, want: 100},
	}
	for _, c := range cases {
		if got := gcPercentAfter(c.live, c.allocated, c.since); got != c.want {
			t.Errorf("%s: gcPercentAfter(%d MiB live, %d MiB in %v) = %d, want %d", c.name, c.live>>20, c.allocated>>20, c.since, got, c.want)
		}
	}
	if got := gcPercentFor(0); got != maxGCPercent {
		t.Errorf("gcPercentFor(0) = %d, want %d", got, maxGCPercent)
	}
}

// currentGCPercent reads the collector's percentage (SetGCPercent answers
// the one it replaces).
func currentGCPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

var gcFloorGarbage [][]byte

// Started in a process that allocates fast, the floor raises the
// percentage after a cycle, and stop puts Go's default back. Not parallel:
// the percentage is the process's.
func TestGCFloor_Start(t *testing.T) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOGC or GOMEMLIMIT is set: the floor leaves the collector to them")
	}
	stop := startGCFloor()
	raised := false
	for cycle := 0; cycle < 50 && !raised; cycle++ {
		// 64 MiB of garbage in a few milliseconds is far above
		// busyAllocRate; the cycle then runs the tuner's finalizer.
		for i := 0; i < 1024; i++ {
			gcFloorGarbage = append(gcFloorGarbage[:0], make([]byte, 64<<10))
		}
		// The tuner runs in the finalizer goroutine after this cycle,
		// maybe after the look below: the next round looks again.
		runtime.GC()
		raised = currentGCPercent() > 100
	}
	stop()
	if !raised {
		t.Fatalf("the percentage stayed at %d under fast allocation", currentGCPercent())
	}
	if p := currentGCPercent(); p != 100 {
		t.Fatalf("after stop the percentage is %d, want 100", p)
	}
}

// An operator's GOGC is theirs: the floor does not touch it.
func TestGCFloor_LeavesGOGCAlone(t *testing.T) {
	t.Setenv("GOGC", "100")
	prev := debug.SetGCPercent(150)
	defer debug.SetGCPercent(prev)
	stop := startGCFloor()
	for i := 0; i < 1024; i++ {
		gcFloorGarbage = append(gcFloorGarbage[:0], make([]byte, 64<<10))
	}
	runtime.GC()
	runtime.GC()
	stop()
	if p := currentGCPercent(); p != 150 {
		t.Fatalf("with GOGC set the percentage became %d, want the 150 it was", p)
	}
}
