package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"kiln/bench/internal/procstat"
)

// start is what one kilnd start cost and answered.
type start struct {
	label string
	host  *host
	// emptyBroker marks the host that ran the history: it started before
	// any job, so its start figures are those of an empty broker, and its
	// answers are asked once the history is through.
	emptyBroker bool

	startedAt   time.Time
	ready       time.Duration
	readyStatus string
	// statuses is every STATUS= that changed the line; statusAfterRight
	// the first sent once the answers were right, if one came.
	statuses             []timedStatus
	statusAfterRight     timedStatus
	statusAfterRightCame bool

	atReady, settled answers
	// settleTime runs from READY=1 (from the end of the history for the
	// host that ran it) until the answers were right; -1 if they were not
	// within the settle time.
	settleTime time.Duration

	memReady, memAfter, memRest procstat.Memory
	// pastRead is, for a host that joined, how long after its start it
	// had read the history behind the stream's live part (-1: not within
	// the wait; 0: not followed), and memPastPeak the most it held
	// meanwhile.
	pastRead    time.Duration
	memPastPeak procstat.Memory

	// CPU seconds: kilnd's since its start, the broker's since just
	// before it; at READY=1 and once the answers were right.
	kilndCPUReady, kilndCPUSettled   float64
	brokerBefore                     float64
	brokerCPUReady, brokerCPUSettled float64
}

// report is one history size's figures.
type report struct {
	history, hosts int
	settleLimit    time.Duration // how long a host was given to be right
	// submitted is how long the submits took, ran how long until every
	// host counted every job succeeded.
	submitted, ran                    time.Duration
	historyKilndCPU, historyBrokerCPU float64
	starts                            []*start
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nhistory of %d no-op jobs through %d host(s): submitted in %s, all succeeded on every host after %s (%.0f jobs/s); CPU %.1f s kilnd, %.1f s broker (%.3f + %.3f s per 1,000 jobs)\n\n",
		r.history, r.hosts, secs(r.submitted), secs(r.ran), float64(r.history)/r.ran.Seconds(),
		r.historyKilndCPU, r.historyBrokerCPU, 1000*r.historyKilndCPU/float64(r.history), 1000*r.historyBrokerCPU/float64(r.history))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tto READY\tsucceeded at READY\tfirst job\tlast job\tright after\tsucceeded then\tfirst job\tlast job\t")
	for _, s := range r.starts {
		at := []string{fmt.Sprintf("%d / %d", s.atReady.succeeded, r.history) + statusErr(s.atReady), s.atReady.first, s.atReady.last}
		if s.emptyBroker {
			at = []string{"(empty broker)", "-", "-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", s.label, secs(s.ready), at[0], at[1], at[2],
			r.settle(s.settleTime), fmt.Sprintf("%d / %d", s.settled.succeeded, r.history)+statusErr(s.settled), s.settled.first, s.settled.last)
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tRSS MB at READY\tPSS\tRSS MB after checks\tPSS\tanon\tRSS MB at rest\tanon\tkilnd CPU s to READY\tto right\tbroker CPU s to READY\tto right\t")
	for _, s := range r.starts {
		kRight, bRight := fmt.Sprintf("%.2f", s.kilndCPUSettled), fmt.Sprintf("%.2f", s.brokerCPUSettled)
		if s.emptyBroker {
			kRight, bRight = "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%.2f\t%s\t\n", s.label,
			mb(s.memReady.RSS), mb(s.memReady.PSS), mb(s.memAfter.RSS), mb(s.memAfter.PSS), mb(s.memAfter.Anon),
			mb(s.memRest.RSS), mb(s.memRest.Anon),
			s.kilndCPUReady, kRight, s.brokerCPUReady, bRight)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, s := range r.starts {
		switch {
		case s.pastRead > 0:
			fmt.Fprintf(w, "%s read the history behind the live stream in the background: done %s after its start, at most %s MB RSS (%s MB anon) meanwhile\n",
				strings.TrimSpace(s.label), secs(s.pastRead), mb(s.memPastPeak.RSS), mb(s.memPastPeak.Anon))
		case s.pastRead < 0:
			fmt.Fprintf(w, "%s had not read the history behind the live stream %s after its start (at most %s MB RSS meanwhile)\n", strings.TrimSpace(s.label), pastReadWithin, mb(s.memPastPeak.RSS))
		}
	}
	fmt.Fprintln(w)
	for _, s := range r.starts {
		s.printStatuses(w)
	}
	fmt.Fprintln(w, "(a) started on an empty broker before the history: its READY, memory at READY and CPU to READY are of that start; its answers and memory after the checks are once every job has succeeded, and its \"right after\" counts from then; memory at rest is once the next STATUS= after the checks came (a few seconds on).")
	fmt.Fprintln(w, "\"right\": status counts exactly H succeeded in the bench queue and both jobs are found succeeded; CPU is utime+stime of kilnd since its start and of the broker's beam.smp since just before that start.")
}

// maxStatusLines bounds the STATUS= lines shown of one start: the first
// and the last half of it are kept.
const maxStatusLines = 12

// printStatuses shows what kilnd said in STATUS= at READY=1, as it
// changed while the answers were not right yet, and in the first line
// once they were. The host that ran the history shows only the first and
// the last: between them are the history's own.
func (s *start) printStatuses(w io.Writer) {
	fmt.Fprintf(w, "%s STATUS= (seconds from process start):\n", s.label)
	line := func(st timedStatus, note string) {
		fmt.Fprintf(w, "  %9.2f  %s%s\n", st.at.Sub(s.startedAt).Seconds(), st.text, note)
	}
	readyAt := s.startedAt.Add(s.ready)
	var shown []timedStatus
	if !s.emptyBroker {
		for _, st := range s.statuses {
			if st.at.After(readyAt) && (!s.statusAfterRightCame || st.at.Before(s.statusAfterRight.at)) {
				shown = append(shown, st)
			}
		}
	}
	line(timedStatus{at: readyAt, text: s.readyStatus}, "   [with READY=1]")
	if len(shown) > maxStatusLines {
		for _, st := range shown[:maxStatusLines/2] {
			line(st, "")
		}
		fmt.Fprintf(w, "  %9s  (%d more changes)\n", "...", len(shown)-maxStatusLines)
		shown = shown[len(shown)-maxStatusLines/2:]
	}
	for _, st := range shown {
		line(st, "")
	}
	switch {
	case s.statusAfterRightCame:
		line(s.statusAfterRight, "   [first once the answers were right]")
	case s.settleTime >= 0:
		fmt.Fprintf(w, "  %9s  no STATUS= within %s of the answers being right\n", "-", statusWait)
	}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func (r *report) settle(d time.Duration) string {
	if d < 0 {
		return "not in " + r.settleLimit.String()
	}
	return secs(d)
}

func mb(bytes int64) string { return fmt.Sprintf("%.0f", float64(bytes)/(1<<20)) }

func statusErr(a answers) string {
	if a.statusErr == "" {
		return ""
	}
	return " (" + strings.TrimSpace(a.statusErr) + ")"
}
