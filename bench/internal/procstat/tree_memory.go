package procstat

import (
	"sync"
	"time"
)

// A service of several processes (kilnd and its image workers) is weighed
// by the PSS of all of them added up: RSS would count the libraries they
// share once in every process.

// Tree lists pid and every live process below it.
func Tree(pid int) []int {
	procs := all()
	children := map[int][]int{}
	for p, t := range procs {
		children[t.PPID] = append(children[t.PPID], p)
	}
	var out []int
	var walk func(p int)
	walk = func(p int) {
		out = append(out, p)
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(pid)
	return out
}

// SumMemory adds up the memory of the given processes; one that has
// exited in the meantime counts as nothing.
func SumMemory(pids []int) Memory {
	var total Memory
	for _, p := range pids {
		if m, err := ReadMemory(p); err == nil {
			total.RSS += m.RSS
			total.PSS += m.PSS
			total.Anon += m.Anon
		}
	}
	return total
}

// TreeMemory is the memory of pid and every live process below it.
func TreeMemory(pid int) Memory { return SumMemory(Tree(pid)) }

// TreeSampler reads the memory of a process tree over and over and keeps
// the largest totals seen at one moment: the processes' own peaks may fall
// at different moments, so their high-water marks added up would
// overstate it.
type TreeSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak Memory
}

// treeRefresh is how often the sampler looks for processes that started
// or ended below the root; reading every process's stat costs more than
// reading a few smaps_rollup.
const treeRefresh = 100 * time.Millisecond

// SampleTree starts sampling pid's tree every period (smaps_rollup walks
// the page tables, so a few milliseconds is the useful floor).
func SampleTree(pid int, period time.Duration) *TreeSampler {
	s := &TreeSampler{stop: make(chan struct{})}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		tick := time.NewTicker(period)
		defer tick.Stop()
		pids, listed := Tree(pid), time.Now()
		for {
			m := SumMemory(pids)
			s.peak.RSS = max(s.peak.RSS, m.RSS)
			s.peak.PSS = max(s.peak.PSS, m.PSS)
			s.peak.Anon = max(s.peak.Anon, m.Anon)
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			if time.Since(listed) >= treeRefresh {
				pids, listed = Tree(pid), time.Now()
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the peaks.
func (s *TreeSampler) Stop() Memory {
	close(s.stop)
	s.done.Wait()
	return s.peak
}

// SettledTreeMemory waits until the tree's PSS has not fallen for quiet
// (a process handing memory back to the kernel once it is idle, as kiln's
// image workers do a second after their last job), reading every period,
// for at most limit, and returns the last reading.
func SettledTreeMemory(pid int, period, quiet, limit time.Duration) Memory {
	start := time.Now()
	last := TreeMemory(pid)
	low := last.PSS
	lowAt := time.Now()
	for time.Since(start) < limit && time.Since(lowAt) < quiet {
		time.Sleep(period)
		last = TreeMemory(pid)
		if last.PSS < low-(64<<10) {
			low, lowAt = last.PSS, time.Now()
		}
	}
	return last
}
