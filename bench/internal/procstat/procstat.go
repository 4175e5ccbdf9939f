// Package procstat reads what /proc says of a process: its CPU time and its
// memory. The benchmarks use it for the cost of the processes they start
// (kilnd, the RabbitMQ node) and of themselves.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times; 100 on every
// Linux this runs on.
const clockTicks = 100

// Times is one process's line of /proc/PID/stat, the parts the benchmarks
// read: its parent, its command name, and its CPU seconds, its own and
// those of the children it has reaped.
type Times struct {
	PPID                     int
	Comm                     string
	User, System             float64
	ReapedUser, ReapedSystem float64
}

// Own is the process's own CPU seconds, utime plus stime.
func (t Times) Own() float64 { return t.User + t.System }

// WithReaped is Own plus the CPU of the children it has waited for.
func (t Times) WithReaped() float64 { return t.Own() + t.ReapedUser + t.ReapedSystem }

// ReadTimes reads /proc/PID/stat.
func ReadTimes(pid int) (Times, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	b, err := os.ReadFile(path)
	if err != nil {
		return Times{}, err
	}
	// The command name is in parentheses and may hold spaces and
	// parentheses of its own: the fields after it start at the last ')'.
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return Times{}, fmt.Errorf("read %s: no command name in %q", path, s)
	}
	f := strings.Fields(s[end+1:])
	// f[0] is the state (field 3 of proc(5)), f[1] the parent (field 4),
	// f[11..14] utime, stime, cutime and cstime (fields 14 to 17).
	if len(f) < 15 {
		return Times{}, fmt.Errorf("read %s: %d fields after the command name", path, len(f))
	}
	t := Times{Comm: s[open+1 : end]}
	t.PPID, _ = strconv.Atoi(f[1])
	ticks := make([]float64, 4)
	for i := range ticks {
		v, err := strconv.ParseFloat(f[11+i], 64)
		if err != nil {
			return Times{}, fmt.Errorf("read %s: field %d: %w", path, 14+i, err)
		}
		ticks[i] = v / clockTicks
	}
	t.User, t.System, t.ReapedUser, t.ReapedSystem = ticks[0], ticks[1], ticks[2], ticks[3]
	return t, nil
}

// OwnCPU is a process's own CPU seconds, all its threads, without its
// children's: what one kilnd or one broker VM spent.
func OwnCPU(pid int) (float64, error) {
	t, err := ReadTimes(pid)
	if err != nil {
		return 0, err
	}
	return t.Own(), nil
}

// all reads every live process's times, by PID.
func all() map[int]Times {
	procs := map[int]Times{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// A process may exit between the listing and the read.
		if t, err := ReadTimes(pid); err == nil {
			procs[pid] = t
		}
	}
	return procs
}

// TreeCPU is the CPU seconds of pid and of every live process below it
// (RabbitMQ's beam runs under a shell script), each with the children it
// has reaped.
func TreeCPU(pid int) float64 {
	procs := all()
	children := map[int][]int{}
	for p, t := range procs {
		children[t.PPID] = append(children[t.PPID], p)
	}
	var total float64
	var walk func(p int)
	walk = func(p int) {
		if t, ok := procs[p]; ok {
			total += t.WithReaped()
		}
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(pid)
	return total
}

// Descendants lists the live processes below pid whose command name is
// comm, such as the beam.smp of a RabbitMQ node the benchmark started.
func Descendants(pid int, comm string) []int {
	procs := all()
	var found []int
	for p, t := range procs {
		if t.Comm != comm {
			continue
		}
		// Walk up to pid or to the top; parents are at most a few deep.
		for up := t.PPID; up > 1; up = procs[up].PPID {
			if up == pid {
				found = append(found, p)
				break
			}
			if _, ok := procs[up]; !ok {
				break
			}
		}
	}
	return found
}

// BrokerVM finds the Erlang VM (beam.smp) of the RabbitMQ node this
// process started: the broker's own CPU and memory, apart from the script,
// epmd and the other processes around it. A benchmark runs one node at a
// time, so more than one VM below this process is an error, not a choice.
func BrokerVM() (int, error) {
	self := os.Getpid()
	found := Descendants(self, "beam.smp")
	if len(found) != 1 {
		return 0, fmt.Errorf("find the broker's beam.smp below pid %d: found %d (%v), want 1", self, len(found), found)
	}
	return found[0], nil
}

// Memory is a process's resident memory and its proportional share, in
// bytes: PSS counts a page shared with n processes as 1/n of it. Anon is
// the part of RSS that no file backs (heaps, stacks): what the process
// itself holds, as against pages of files it maps (a records file's
// pages are the kernel's page cache, dropped under memory pressure).
type Memory struct {
	RSS, PSS, Anon int64
}

// ReadMemory reads /proc/PID/smaps_rollup.
func ReadMemory(pid int) (Memory, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/smaps_rollup"
	b, err := os.ReadFile(path)
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	var seen int
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		var into *int64
		switch f[0] {
		case "Rss:":
			into = &m.RSS
		case "Pss:":
			into = &m.PSS
		case "Anonymous:":
			into = &m.Anon
		default:
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("read %s: %s: %w", path, f[0], err)
		}
		*into = kb << 10
		if f[0] != "Anonymous:" {
			seen++
		}
	}
	if seen != 2 {
		return Memory{}, fmt.Errorf("read %s: no Rss and Pss lines", path)
	}
	return m, nil
}
