package daemon

import (
	"sync/atomic"
	"time"
)

// dispatchBeatEvery is how often the dispatch loop stamps its heartbeat.
// The loop wakes for the beat even when it has nothing to do, so that an
// idle loop and a stuck one can be told apart.
const dispatchBeatEvery = time.Second

// dispatchStaleBeats is how many beats may be missed before /readyz calls
// the loop stuck: a lease or a batch of completions may hold one turn of
// the loop for a moment under load, which is not a stuck loop.
const dispatchStaleBeats = 5

// monoOrigin is what the beats are measured from: time.Since on it reads
// the monotonic clock, which a wall clock set back or forward leaves alone.
var monoOrigin = time.Now()

// dispatchBeat is the dispatch loop's heartbeat: the loop stamps it from
// its own goroutine at each beat, and /readyz reads how long ago that was.
// The zero value beats every dispatchBeatEvery.
type dispatchBeat struct {
	every time.Duration // 0: dispatchBeatEvery
	// last is when the loop last stamped, in nanoseconds after monoOrigin;
	// 0 until its first beat.
	last atomic.Int64
}

func (b *dispatchBeat) period() time.Duration {
	if b.every > 0 {
		return b.every
	}
	return dispatchBeatEvery
}

// staleAfter is how long without a beat makes the loop stuck.
func (b *dispatchBeat) staleAfter() time.Duration { return dispatchStaleBeats * b.period() }

func (b *dispatchBeat) stamp() { b.last.Store(max(int64(time.Since(monoOrigin)), 1)) }

// age is how long ago the loop last beat; started is false before its
// first beat.
func (b *dispatchBeat) age() (age time.Duration, started bool) {
	last := b.last.Load()
	if last == 0 {
		return 0, false
	}
	return time.Since(monoOrigin) - time.Duration(last), true
}

// heartbeat is the function the dispatch loop calls at each beat, and how
// often it calls it. The systemd watchdog, when armed to be fed every wd,
// is fed from the same calls, so that a stuck loop stops feeding it; the
// beat is made short enough for it, and the watchdog is fed at the first
// beat that would otherwise leave it unfed for longer than wd.
func (b *dispatchBeat) heartbeat(wd time.Duration, feed func()) (func(), time.Duration) {
	every := b.period()
	if wd > 0 && wd < every {
		every = wd
	}
	var fed time.Duration // only the loop's goroutine touches it
	first := true
	return func() {
		b.stamp()
		if wd <= 0 {
			return
		}
		now := time.Since(monoOrigin)
		if first || now-fed+every > wd {
			first = false
			fed = now
			feed()
		}
	}, every
}
