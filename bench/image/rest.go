package main

import (
	"fmt"
	"path/filepath"
	"time"

	"kiln/bench/internal/procstat"
)

// restFigures are a kilnd's memory at rest, PSS summed over kilnd and its
// workers: once started (workers start with the first job), then with n
// workers idle after n pictures went through at once.
type restFigures struct {
	workers    int     // worker processes found idle
	startedMiB float64 // kilnd alone, after start
	idleMiB    float64 // kilnd and its idle workers
}

// perWorkerMiB is what each idle worker added to the started kilnd.
func (r restFigures) perWorkerMiB() float64 {
	return (r.idleMiB - r.startedMiB) / float64(max(1, r.workers))
}

// benchKilnRest weighs a fresh kilnd of n workers at rest.
func benchKilnRest(kilnd, dir, job string, n int, pictures []string) (restFigures, error) {
	var r restFigures
	k, err := startKiln(kilnd, dir, n, pictures[:n])
	if err != nil {
		return r, err
	}
	defer k.stop()
	pid := k.inst.PID()
	// A worker trims what malloc kept a second after its last job: "at
	// rest" is once the tree's PSS has stopped falling for longer than that.
	settle := func() procstat.Memory {
		return procstat.SettledTreeMemory(pid, 100*time.Millisecond, 1500*time.Millisecond, 15*time.Second)
	}
	r.startedMiB = mib(settle().PSS)
	if _, err := k.submit(job, pictures[:n]); err != nil {
		return r, err
	}
	idle := settle()
	r.idleMiB = mib(idle.PSS)
	r.workers = len(procstat.Tree(pid)) - 1
	return r, nil
}

// benchRest weighs kilnd at rest with each number of workers.
func benchRest(kilnd, dir, job string, counts []int, pictures []string) ([]restFigures, error) {
	var out []restFigures
	for _, n := range counts {
		r, err := benchKilnRest(kilnd, filepath.Join(dir, fmt.Sprintf("rest%d", n)), job, n, pictures)
		if err != nil {
			return nil, fmt.Errorf("kiln at rest, %d workers: %w", n, err)
		}
		out = append(out, r)
	}
	return out, nil
}
