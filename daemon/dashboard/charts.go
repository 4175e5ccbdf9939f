package dashboard

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"kiln/daemon/chartstore"
)

// The queues' charts are inline SVG made here, on the server: the page
// loads no script or file for them, and its CSP stays as it is (the SVG
// carries presentation attributes, never a style attribute). Each step is
// a column whose <title> tells its values, which a browser shows on
// hover; each chart has an aria-label that sums it up, and a visually
// hidden table beside them holds every value for screen readers.

// chart geometry, in the SVG's own units; it scales to the page's width.
const (
	chartW      = 560
	chartH      = 150
	chartLeft   = 58
	chartRight  = 8
	chartTop    = 10
	chartBottom = 22
	plotW       = chartW - chartLeft - chartRight
	plotH       = chartH - chartTop - chartBottom
)

// Colours, as SVG presentation attributes.
const (
	colDone   = "#1e7b34"
	colFailed = "#b00020"
	colP50    = "#1f5fbf"
	colP95    = "#d9731a"
	colDepth  = "#6b4fa3"
	colGrid   = "#d2d2d7"
	colText   = "#6e6e73"
)

// queueCharts is one queue's charts, ready for the page.
type queueCharts struct {
	Queue string
	// Summary is the span in words, shown above the charts.
	Summary string
	Charts  []template.HTML
	Rows    []chartRow // the steps that hold anything, for the hidden table
}

// chartRow is one step in words.
type chartRow struct {
	When                       string
	Done, Failed               int64
	WaitP50, WaitP95           string
	RunP50, RunP95             string
	Queued                     string
	HasWait, HasRun, HasQueued bool
}

// chartsOf renders every queue of a snapshot, in the order of names.
func chartsOf(snap *chartstore.Snapshot, names []string) []queueCharts {
	var out []queueCharts
	for _, name := range names {
		points, ok := snap.Queues[name]
		if !ok {
			continue
		}
		out = append(out, renderQueue(name, snap, points))
	}
	return out
}

func renderQueue(name string, snap *chartstore.Snapshot, points []chartstore.Point) queueCharts {
	per := "minute"
	over := "the last hour"
	if snap.Span == chartstore.SpanDay {
		per, over = "15 minutes", "the last day"
	}
	c := chartCtx{name: name, snap: snap, points: points}
	qc := queueCharts{Queue: name}
	var done, failed int64
	var waitMax, runMax time.Duration
	var depthMax int64 = -1
	for _, p := range points {
		done += p.Done
		failed += p.Failed
		if p.Wait.N > 0 {
			waitMax = max(waitMax, p.Wait.P95)
		}
		if p.Run.N > 0 {
			runMax = max(runMax, p.Run.P95)
		}
		depthMax = max(depthMax, p.Depth)
		if !p.Empty() {
			qc.Rows = append(qc.Rows, rowOf(snap, p))
		}
	}
	qc.Summary = fmt.Sprintf("%d done, %d failed; wait p95 up to %s; run p95 up to %s; queued at most %s", done, failed, humanDuration(waitMax), humanDuration(runMax), depthText(depthMax))
	if len(qc.Rows) == 0 {
		qc.Summary = "nothing in " + over
	}
	qc.Charts = []template.HTML{
		c.bars("attempts", fmt.Sprintf("Attempts per %s of %s over %s: %d done, %d failed", per, name, over, done, failed)),
		c.durations("wait", fmt.Sprintf("Wait from due to started of %s over %s, p50 and p95: the highest p95 is %s", name, over, humanDuration(waitMax)),
			func(p chartstore.Point) chartstore.Quantiles { return p.Wait }),
		c.durations("run", fmt.Sprintf("Run time from started to finished of %s over %s, p50 and p95: the highest p95 is %s", name, over, humanDuration(runMax)),
			func(p chartstore.Point) chartstore.Quantiles { return p.Run }),
		c.depth(fmt.Sprintf("Queued jobs of %s over %s, the most seen per %s: at most %s", name, over, per, depthText(depthMax))),
	}
	return qc
}

func rowOf(snap *chartstore.Snapshot, p chartstore.Point) chartRow {
	r := chartRow{When: stepName(snap, p), Done: p.Done, Failed: p.Failed}
	if p.Wait.N > 0 {
		r.HasWait, r.WaitP50, r.WaitP95 = true, humanDuration(p.Wait.P50), humanDuration(p.Wait.P95)
	}
	if p.Run.N > 0 {
		r.HasRun, r.RunP50, r.RunP95 = true, humanDuration(p.Run.P50), humanDuration(p.Run.P95)
	}
	if p.Depth >= 0 {
		r.HasQueued, r.Queued = true, strconv.FormatInt(p.Depth, 10)
	}
	return r
}

// chartCtx draws the charts of one queue.
type chartCtx struct {
	name   string
	snap   *chartstore.Snapshot
	points []chartstore.Point
}

// colX is where step i's column starts, and colW its width.
func (c *chartCtx) colX(i int) float64 { return chartLeft + float64(i)*c.colW() }
func (c *chartCtx) colW() float64      { return float64(plotW) / float64(max(len(c.points), 1)) }

// yOf places v on a scale from 0 to top.
func yOf(v, top float64) float64 {
	if top <= 0 {
		return chartTop + plotH
	}
	return chartTop + plotH - v/top*plotH
}

// open starts an SVG: its frame, the y axis's top label and the time
// axis. drawn is how many steps hold a value of this chart.
func (c *chartCtx) open(b *strings.Builder, kind, label, topLabel string, drawn int) {
	fmt.Fprintf(b, `<svg class="chart chart-%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" data-points="%d" xmlns="http://www.w3.org/2000/svg">`,
		kind, chartW, chartH, chartW, chartH, html.EscapeString(label), drawn)
	fmt.Fprintf(b, `<title>%s</title>`, html.EscapeString(label))
	base := chartTop + plotH
	fmt.Fprintf(b, `<g aria-hidden="true" font-size="11" fill="%s">`, colText)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, chartLeft, chartTop, chartW-chartRight, chartTop, colGrid)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, chartLeft, base, chartW-chartRight, base, colText)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, chartLeft-4, chartTop+4, html.EscapeString(topLabel))
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">0</text>`, chartLeft-4, base+4)
	n := len(c.points)
	for _, i := range []int{0, n / 2, n - 1} {
		if i < 0 || i >= n {
			continue
		}
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case n - 1:
			anchor = "end"
		}
		// The first and middle labels are where their steps start, the
		// last where the span ends.
		x, at := c.colX(i), c.points[i].Start
		if i == n-1 {
			x, at = c.colX(i)+c.colW(), at.Add(c.snap.Step)
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="%s">%s</text>`, x, chartH-6, anchor, axisTime(c.snap, at))
	}
	b.WriteString(`</g>`)
}

// hit is a step's column that shows its values on hover.
func (c *chartCtx) hit(b *strings.Builder, i int, text string) {
	fmt.Fprintf(b, `<rect class="hit" x="%.2f" y="%d" width="%.2f" height="%d" fill="transparent" pointer-events="all"><title>%s</title></rect>`,
		c.colX(i), chartTop, c.colW(), plotH, html.EscapeString(stepName(c.snap, c.points[i])+": "+text))
}

// bars draws done and failed attempts, stacked.
func (c *chartCtx) bars(kind, label string) template.HTML {
	var top int64
	drawn := 0
	for _, p := range c.points {
		top = max(top, p.Done+p.Failed)
		if p.Done+p.Failed > 0 {
			drawn++
		}
	}
	scale := niceCount(top)
	var b strings.Builder
	c.open(&b, kind, label, strconv.FormatInt(scale, 10), drawn)
	w := max(c.colW()-1, 1)
	for i, p := range c.points {
		x := c.colX(i) + 0.5
		yDone := yOf(float64(p.Done), float64(scale))
		yAll := yOf(float64(p.Done+p.Failed), float64(scale))
		if p.Done > 0 {
			fmt.Fprintf(&b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"/>`, x, yDone, w, chartTop+plotH-yDone, colDone)
		}
		if p.Failed > 0 {
			fmt.Fprintf(&b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"/>`, x, yAll, w, yDone-yAll, colFailed)
		}
		c.hit(&b, i, fmt.Sprintf("%d done, %d failed", p.Done, p.Failed))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// durations draws a duration's p50 and p95 as lines with a dot at each
// step that has them.
func (c *chartCtx) durations(kind, label string, of func(chartstore.Point) chartstore.Quantiles) template.HTML {
	var top time.Duration
	drawn := 0
	for _, p := range c.points {
		if q := of(p); q.N > 0 {
			top = max(top, q.P95)
			drawn++
		}
	}
	scale := niceDuration(top)
	var b strings.Builder
	c.open(&b, kind, label, humanDuration(scale), drawn)
	for _, line := range []struct {
		colour string
		value  func(chartstore.Quantiles) time.Duration
	}{
		{colP95, func(q chartstore.Quantiles) time.Duration { return q.P95 }},
		{colP50, func(q chartstore.Quantiles) time.Duration { return q.P50 }},
	} {
		c.line(&b, line.colour, func(p chartstore.Point) (float64, bool) {
			q := of(p)
			return float64(line.value(q)), q.N > 0
		}, float64(scale))
	}
	for i, p := range c.points {
		text := "none"
		if q := of(p); q.N > 0 {
			text = fmt.Sprintf("p50 %s, p95 %s, of %d", humanDuration(q.P50), humanDuration(q.P95), q.N)
		}
		c.hit(&b, i, text)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// depth draws the most jobs queued seen in each step.
func (c *chartCtx) depth(label string) template.HTML {
	var top int64
	drawn := 0
	for _, p := range c.points {
		if p.Depth >= 0 {
			top = max(top, p.Depth)
			drawn++
		}
	}
	scale := niceCount(top)
	var b strings.Builder
	c.open(&b, "queued", label, strconv.FormatInt(scale, 10), drawn)
	c.line(&b, colDepth, func(p chartstore.Point) (float64, bool) { return float64(p.Depth), p.Depth >= 0 }, float64(scale))
	for i, p := range c.points {
		text := "not sampled"
		if p.Depth >= 0 {
			text = depthText(p.Depth) + " queued at most"
		}
		c.hit(&b, i, text)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// line draws the steps that have a value as a polyline, broken where a
// step has none, with a dot at each.
func (c *chartCtx) line(b *strings.Builder, colour string, value func(chartstore.Point) (float64, bool), top float64) {
	var run []string
	flush := func() {
		if len(run) > 1 {
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.8"/>`, strings.Join(run, " "), colour)
		}
		run = run[:0]
	}
	var dots strings.Builder
	for i, p := range c.points {
		v, ok := value(p)
		if !ok {
			flush()
			continue
		}
		x, y := c.colX(i)+c.colW()/2, yOf(v, top)
		run = append(run, fmt.Sprintf("%.2f,%.2f", x, y))
		fmt.Fprintf(&dots, `<circle cx="%.2f" cy="%.2f" r="2.2" fill="%s"/>`, x, y, colour)
	}
	flush()
	b.WriteString(dots.String())
}

// niceCount is the top of a count axis: 1, 2 or 5 times a power of ten,
// at least v (and at least 1).
func niceCount(v int64) int64 {
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= v {
				return m * p
			}
		}
		if p > math.MaxInt64/100 {
			return v
		}
	}
}

// niceDuration is the top of a duration axis: a round duration at
// least d.
func niceDuration(d time.Duration) time.Duration {
	steps := []time.Duration{
		10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
		100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
	}
	for _, s := range steps {
		if s >= d {
			return s
		}
	}
	return d.Round(time.Hour)
}

// humanDuration writes a duration short: 3.2 ms, 450 ms, 1.5 s, 2m30s.
func humanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + " µs"
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	return d.Round(time.Second).String()
}

func depthText(n int64) string {
	if n < 0 {
		return "not sampled"
	}
	return strconv.FormatInt(n, 10)
}

// stepName is a step's time span in words, UTC.
func stepName(snap *chartstore.Snapshot, p chartstore.Point) string {
	end := p.Start.Add(snap.Step)
	if snap.Span == chartstore.SpanDay {
		return p.Start.UTC().Format("Jan 2 15:04") + "–" + end.UTC().Format("15:04") + " UTC"
	}
	return p.Start.UTC().Format("15:04") + "–" + end.UTC().Format("15:04") + " UTC"
}

// axisTime is a time under the axis.
func axisTime(snap *chartstore.Snapshot, t time.Time) string {
	if snap.Span == chartstore.SpanDay {
		return t.UTC().Format("Jan 2 15:04")
	}
	return t.UTC().Format("15:04")
}
