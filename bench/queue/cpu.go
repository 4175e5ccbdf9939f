package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times; 100 on every
// Linux this runs on.
const clockTicks = 100

// cpuSeconds is the user plus system CPU time of pid and of every live
// process below it (RabbitMQ's beam runs under a shell script), and of
// children it has reaped.
func cpuSeconds(pid int) float64 {
	var total float64
	for _, p := range append([]int{pid}, descendants(pid)...) {
		if t, _, ok := procTimes(p); ok {
			total += t
		}
	}
	return total
}

// descendants lists the live processes below pid, at any depth.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := procTimes(p); ok {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	var walk func(p int)
	walk = func(p int) {
		for _, c := range children[p] {
			out = append(out, c)
			walk(c)
		}
	}
	walk(pid)
	return out
}

// brokerVM finds the Erlang VM (beam.smp) of the RabbitMQ node this
// process started: the broker's own CPU, apart from the script, epmd and
// helpers around it. A system runs one node at a time, so more than one VM
// below this process is an error, not a choice.
func brokerVM() (int, error) {
	var found []int
	for _, p := range descendants(os.Getpid()) {
		comm, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/comm")
		if err == nil && strings.TrimSpace(string(comm)) == "beam.smp" {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("find the broker's beam.smp below pid %d: found %d (%v), want 1", os.Getpid(), len(found), found)
	}
	return found[0], nil
}

// procTimes reads a process's CPU seconds (its own and its reaped
// children's) and its parent.
func procTimes(pid int) (seconds float64, ppid int, ok bool) {
	f, ok := statFields(pid)
	if !ok {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return ticksSeconds(f, 11, 12, 13, 14), ppid, true
}

// ownCPUSeconds is a process's own user plus system CPU time, all its
// threads, without its children's: what one kilnd or one broker VM spent.
func ownCPUSeconds(pid int) (float64, error) {
	f, ok := statFields(pid)
	if !ok {
		return 0, fmt.Errorf("read /proc/%d/stat: process gone or unreadable", pid)
	}
	return ticksSeconds(f, 11, 12), nil
}

// statFields are /proc/PID/stat's fields from the state (field 3) on:
// f[1] is ppid (field 4), f[11] utime, f[12] stime, f[13] cutime, f[14]
// cstime (fields 14 to 17).
func statFields(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	// The command name may hold spaces: fields start after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return nil, false
	}
	return f, true
}

func ticksSeconds(f []string, fields ...int) float64 {
	var ticks float64
	for _, k := range fields {
		v, _ := strconv.ParseFloat(f[k], 64)
		ticks += v
	}
	return ticks / clockTicks
}
