package main

import (
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
	var total float64
	var walk func(p int)
	walk = func(p int) {
		if t, _, ok := procTimes(p); ok {
			total += t
		}
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(pid)
	return total
}

// procTimes reads a process's CPU seconds (its own and its reaped
// children's) and its parent.
func procTimes(pid int) (seconds float64, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name may hold spaces: fields start after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is state (field 3); ppid is field 4; utime..cstime are 14..17.
	if len(f) < 15 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	var ticks float64
	for _, k := range []int{11, 12, 13, 14} {
		v, _ := strconv.ParseFloat(f[k], 64)
		ticks += v
	}
	return ticks / clockTicks, ppid, true
}
