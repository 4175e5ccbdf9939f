package daemon

import (
	"runtime"
	"testing"

	"kiln/worker"
)

func TestIdleMemory_Quiet(t *testing.T) {
	t.Parallel()
	m := newIdleMemory()
	for i, c := range []struct {
		st   worker.Stats
		want bool
	}{
		{worker.Stats{Succeeded: 0}, true},
		{worker.Stats{Succeeded: 10}, false},             // jobs finished since
		{worker.Stats{Succeeded: 10}, true},              // none since
		{worker.Stats{Succeeded: 10, Running: 1}, false}, // one runs
		{worker.Stats{Succeeded: 10, Failed: 1}, false},
		{worker.Stats{Succeeded: 10, Failed: 1}, true},
	} {
		if got := m.quiet(c.st); got != c.want {
			t.Errorf("tick %d (%+v): quiet = %v, want %v", i, c.st, got, c.want)
		}
	}
}

// A quiet daemon holding far more free heap than it keeps hands it back,
// and then holds less than it keeps.
func TestIdleMemory_TickHandsBackFreeHeap(t *testing.T) {
	m := newIdleMemory()
	m.tick(worker.Stats{}) // whatever the test binary holds now
	hold := make([][]byte, 0, 256)
	for range 256 {
		hold = append(hold, make([]byte, 1<<20))
	}
	runtime.KeepAlive(hold)
	hold = nil
	runtime.GC()
	if free := m.freeHeap(); free <= idleReturnOver {
		t.Skipf("the runtime handed the freed 256 MiB back by itself (free heap %d MiB)", free>>20)
	}
	if m.tick(worker.Stats{}) == 0 {
		t.Fatalf("a quiet tick with %d MiB of free heap did not hand it back", m.freeHeap()>>20)
	}
	if free := m.freeHeap(); free > idleReturnOver {
		t.Errorf("after the tick %d MiB of free heap are kept, want at most %d", free>>20, idleReturnOver>>20)
	}
	if m.tick(worker.Stats{Running: 1}) != 0 {
		t.Error("a tick with a job running handed memory back")
	}
}
