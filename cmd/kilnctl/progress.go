package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether f is a terminal, where a progress bar helps;
// anywhere else (a pipe, a file, a CI log) it would be noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progress draws one line that redraws itself: what is done of a total,
// the rate, and the time left at that rate.
type progress struct {
	w     io.Writer
	label string
	total int
	start time.Time

	mu     sync.Mutex
	done   int
	detail string

	stop    chan struct{}
	stopped chan struct{}
}

// startProgress draws on w every 100 ms until finish; nil when w is no
// terminal, and a nil *progress does nothing.
func startProgress(w io.Writer, label string, total int) *progress {
	if !isTerminal(w) {
		return nil
	}
	p := &progress{w: w, label: label, total: total, start: time.Now(), stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(p.stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.draw()
			case <-p.stop:
				p.draw()
				fmt.Fprintln(p.w)
				return
			}
		}
	}()
	return p
}

// set records how much is done and a word on it.
func (p *progress) set(done int, detail string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.done, p.detail = done, detail
	p.mu.Unlock()
}

func (p *progress) finish() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.stopped
}

func (p *progress) draw() {
	p.mu.Lock()
	done, detail := p.done, p.detail
	p.mu.Unlock()
	fmt.Fprint(p.w, "\r\033[K"+progressLine(p.label, done, p.total, time.Since(p.start), detail))
}

// progressLine is the bar's text, e.g.
// "submitting [#######.............]  700/2000  35%  1203/s  ETA 0:01  3 refused".
func progressLine(label string, done, total int, elapsed time.Duration, detail string) string {
	const width = 24
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	filled := int(frac * width)
	bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	eta := "--:--"
	if rate > 0 {
		left := time.Duration(float64(total-done) / rate * float64(time.Second))
		eta = clock(left)
	}
	line := fmt.Sprintf("%-10s [%s] %*d/%d %3.0f%% %7.0f/s  ETA %s", label, bar, len(fmt.Sprint(total)), done, total, frac*100, rate, eta)
	if detail != "" {
		line += "  " + detail
	}
	return line
}

// clock shows a duration as m:ss (h:mm:ss past an hour).
func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
