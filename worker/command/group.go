package command

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// group is the process group a program runs in: the program itself and
// every process it starts, unless one leaves the group on purpose. Ending
// the group ends them all, so that no child of a job outlives it.
type group struct{ pgid int }

// survivorWait is how long the processes of a group have to go after
// SIGKILL; only a process stuck in the kernel takes that long.
const survivorWait = 10 * time.Second

// signal sends sig to every process of the group.
func (g group) signal(sig syscall.Signal) {
	// ESRCH: the group is already gone, which is what is wanted.
	_ = unix.Kill(-g.pgid, sig)
}

// end stops what is left of the group: SIGTERM, then SIGKILL once grace
// has passed since termAt (SIGTERM is sent now when termAt is zero). It
// returns the last signal it had to send (0 when the group was already
// gone), and an error naming the processes that outlived SIGKILL.
func (g group) end(grace time.Duration, termAt time.Time) (syscall.Signal, error) {
	if termAt.IsZero() {
		if g.gone() {
			return 0, nil
		}
		g.signal(syscall.SIGTERM)
		termAt = time.Now()
	}
	if g.waitGone(termAt.Add(grace)) {
		return syscall.SIGTERM, nil
	}
	g.signal(syscall.SIGKILL)
	if !g.waitGone(time.Now().Add(survivorWait)) {
		return syscall.SIGKILL, fmt.Errorf("process group %d: processes %v still run after SIGKILL", g.pgid, g.members())
	}
	return syscall.SIGKILL, nil
}

// waitGone polls until the group is gone or the deadline has passed. There
// is no event for the end of a group's last member, so it looks, more
// rarely as time goes on.
func (g group) waitGone(deadline time.Time) bool {
	every := time.Millisecond
	for !g.gone() {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(every, left))
		every = min(2*every, 50*time.Millisecond)
	}
	return true
}

// gone reports whether no process of the group still runs. A zombie does
// not run: an orphan that ended waits there for its new parent to reap it,
// which is not the job's to wait for.
func (g group) gone() bool {
	if err := unix.Kill(-g.pgid, 0); errors.Is(err, unix.ESRCH) {
		return true // the common case, without reading /proc
	}
	return len(g.members()) == 0
}

// members lists the running processes of the group, from /proc.
func (g group) members() []int {
	return groupMembers(g.pgid)
}

// groupMembers lists the processes of process group pgid that have not
// ended (zombies left out), from /proc.
func groupMembers(pgid int) []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	var out []int
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // ended meanwhile
		}
		// pid (comm) state ppid pgrp ...: comm may hold anything, so
		// the fields are counted from its closing parenthesis.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(stat[i+1:])
		if len(f) < 3 {
			continue
		}
		state := f[0]
		if p, err := strconv.Atoi(string(f[2])); err == nil && p == pgid && !bytes.Equal(state, []byte("Z")) && !bytes.Equal(state, []byte("X")) {
			out = append(out, pid)
		}
	}
	return out
}
