package dashboard

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"kiln/api"
	"kiln/daemon/chartstore"
	"kiln/kilntype"
	"kiln/worker"
)

// chartsBackend answers what the queues page asks, with known charts.
// The rest of Backend is not reached by these tests (nil: a call panics).
type chartsBackend struct {
	Backend
	snaps map[chartstore.Span]*chartstore.Snapshot
	err   error
	// heldByRate names the queues status says their rate holds back;
	// rates are the queues' rates in the config.
	heldByRate []string
	rates      map[string]worker.Rate
}

func (b *chartsBackend) Status(context.Context) (*api.Status, error) {
	st := &api.Status{Version: "test", Queues: map[string]*api.QueueStatus{
		"images": {Counts: map[kilntype.State]int{kilntype.StateQueued: 4}, Concurrency: 2},
		"mail":   {Counts: map[kilntype.State]int{}, Concurrency: 1},
	}}
	for _, q := range b.heldByRate {
		st.Queues[q].HeldByRate = true
	}
	return st, nil
}

func (b *chartsBackend) QueueRate(queue string) worker.Rate { return b.rates[queue] }

func (b *chartsBackend) Charts(_ context.Context, span chartstore.Span) (*chartstore.Snapshot, error) {
	return b.snaps[span], b.err
}

func (b *chartsBackend) LastEventID(context.Context) uint64 { return 0 }
func (b *chartsBackend) Current(Login) bool                 { return true }

// hourOf is an hour of images with two steps of attempts and depth
// samples, and of mail with nothing.
func hourOf(end time.Time) *chartstore.Snapshot {
	snap := &chartstore.Snapshot{Span: chartstore.SpanHour, Step: time.Minute, End: end, Queues: map[string][]chartstore.Point{}}
	for _, q := range []string{"images", "mail"} {
		pts := make([]chartstore.Point, 60)
		for i := range pts {
			pts[i] = chartstore.Point{Start: end.Add(time.Duration(i-60) * time.Minute), Depth: -1}
		}
		snap.Queues[q] = pts
	}
	img := snap.Queues["images"]
	img[57].Done, img[57].Failed = 120, 3
	img[57].Wait = chartstore.Quantiles{N: 123, P50: 12 * time.Millisecond, P95: 250 * time.Millisecond}
	img[57].Run = chartstore.Quantiles{N: 123, P50: 1500 * time.Millisecond, P95: 4 * time.Second}
	img[57].Depth = 17
	img[58].Done = 80
	img[58].Run = chartstore.Quantiles{N: 80, P50: time.Second, P95: 2 * time.Second}
	img[58].Depth = 5
	return snap
}

func getQueuesPage(t *testing.T, b Backend, query string) (int, http.Header, string) {
	t.Helper()
	d := New(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	id, _ := d.sessions.create(Login{User: "operator", Scopes: []string{scopeRead}})
	req := httptest.NewRequest(http.MethodGet, "/ui/"+query, nil)
	req.AddCookie(&http.Cookie{Name: cookieName, Value: id})
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.String()
}

var svgPattern = regexp.MustCompile(`(?s)<svg class="chart chart-([a-z]+)"[^>]*data-points="(\d+)".*?</svg>`)

// chartsOfQueue returns each chart's SVG of one queue's block of the page,
// by kind, and how many steps it says it drew.
func chartsOfQueue(t *testing.T, page, queue string) (map[string]string, map[string]string) {
	t.Helper()
	start := strings.Index(page, `<div class="queue-charts" data-queue="`+queue+`">`)
	if start < 0 {
		t.Fatalf("no charts of %s on the page", queue)
	}
	block := page[start:]
	if end := strings.Index(block[1:], `<div class="queue-charts"`); end >= 0 {
		block = block[:end+1]
	}
	svgs, points := map[string]string{}, map[string]string{}
	for _, m := range svgPattern.FindAllStringSubmatch(block, -1) {
		svgs[m[1]], points[m[1]] = m[0], m[2]
		// Inline SVG in HTML need not be XML, but ours is: check that
		// it parses, so that no text of a value broke out of it.
		dec := xml.NewDecoder(strings.NewReader(m[0]))
		for {
			if _, err := dec.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("the %s chart of %s is not well-formed: %v\n%s", m[1], queue, err, m[0])
			}
		}
	}
	return svgs, points
}

func TestQueuesPage_DrawsTheChartsOfKnownData(t *testing.T) {
	t.Parallel()
	end := time.Date(2026, 3, 4, 11, 0, 0, 0, time.UTC)
	b := &chartsBackend{snaps: map[chartstore.Span]*chartstore.Snapshot{chartstore.SpanHour: hourOf(end)}}
	code, header, page := getQueuesPage(t, b, "")
	if code != http.StatusOK {
		t.Fatalf("status %d:\n%s", code, page)
	}
	if csp := header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q changed", csp)
	}
	if strings.Contains(page, "style=") || strings.Count(page, "<script") != 1 || !strings.Contains(page, `<script src="/ui/static/live.js"`) {
		t.Fatalf("the page has a style attribute or a script of its own")
	}

	svgs, points := chartsOfQueue(t, page, "images")
	for kind, want := range map[string]string{"attempts": "2", "wait": "1", "run": "2", "queued": "2"} {
		if points[kind] != want {
			t.Errorf("the %s chart of images drew %q steps; want %s", kind, points[kind], want)
		}
	}
	for kind, want := range map[string][]string{
		"attempts": {
			"<title>10:57–10:58 UTC: 120 done, 3 failed</title>",
			"<title>10:58–10:59 UTC: 80 done, 0 failed</title>",
			`aria-label="Attempts per minute of images over the last hour: 200 done, 3 failed"`,
			`fill="#b00020"`, // the failed part of a bar
		},
		"wait":   {"<title>10:57–10:58 UTC: p50 12 ms, p95 250 ms, of 123</title>", "<title>10:58–10:59 UTC: none</title>", "the highest p95 is 250 ms"},
		"run":    {"<title>10:57–10:58 UTC: p50 1.5 s, p95 4.0 s, of 123</title>", "<polyline", "the highest p95 is 4.0 s"},
		"queued": {"<title>10:57–10:58 UTC: 17 queued at most</title>", "<title>10:59–11:00 UTC: not sampled</title>", "at most 17"},
	} {
		for _, w := range want {
			if !strings.Contains(svgs[kind], w) {
				t.Errorf("the %s chart of images lacks %s:\n%s", kind, w, svgs[kind])
			}
		}
	}
	// The axis is labelled with the span's first and last times.
	if !strings.Contains(svgs["attempts"], ">10:00</text>") || !strings.Contains(svgs["attempts"], ">11:00</text>") {
		t.Errorf("the time axis lacks 10:00 or 11:00:\n%s", svgs["attempts"])
	}
	// The values for screen readers, in the hidden table.
	row := "<tr><th scope=\"row\">10:57–10:58 UTC</th><td>120</td><td>3</td><td>12 ms</td><td>250 ms</td><td>1.5 s</td><td>4.0 s</td><td>17</td></tr>"
	if !strings.Contains(page, row) {
		t.Errorf("the hidden table lacks %s", row)
	}

	if !strings.Contains(page, `<span class="meta summary">200 done, 3 failed; wait p95 up to 250 ms; run p95 up to 4.0 s; queued at most 17</span>`) ||
		!strings.Contains(page, `<span class="meta summary">nothing in the last hour</span>`) {
		t.Error("the summaries above the charts are not shown")
	}
	_, mailPoints := chartsOfQueue(t, page, "mail")
	for kind, n := range mailPoints {
		if n != "0" {
			t.Errorf("the %s chart of mail, which did nothing, drew %s steps", kind, n)
		}
	}
	if !strings.Contains(page, "mail over the last hour, per minute: nothing yet") {
		t.Error("the hidden table of mail does not say it is empty")
	}
	if !strings.Contains(page, `<a href="/ui/?span=day" id="span-day">day</a>`) {
		t.Error("no switch to the last day")
	}
}

func TestQueuesPage_TheDayHasQuarterHours(t *testing.T) {
	t.Parallel()
	end := time.Date(2026, 3, 4, 11, 0, 0, 0, time.UTC)
	day := &chartstore.Snapshot{Span: chartstore.SpanDay, Step: 15 * time.Minute, End: end, Queues: map[string][]chartstore.Point{}}
	pts := make([]chartstore.Point, 96)
	for i := range pts {
		pts[i] = chartstore.Point{Start: end.Add(time.Duration(i-96) * 15 * time.Minute), Depth: -1}
	}
	pts[95].Done = 7
	day.Queues["images"] = pts
	b := &chartsBackend{snaps: map[chartstore.Span]*chartstore.Snapshot{chartstore.SpanDay: day}}
	code, _, page := getQueuesPage(t, b, "?span=day")
	if code != http.StatusOK {
		t.Fatalf("status %d:\n%s", code, page)
	}
	svgs, points := chartsOfQueue(t, page, "images")
	if points["attempts"] != "1" || !strings.Contains(svgs["attempts"], "<title>Mar 4 10:45–11:00 UTC: 7 done, 0 failed</title>") {
		t.Errorf("the day's attempts chart:\n%s", svgs["attempts"])
	}
	if !strings.Contains(page, "Attempts per 15 minutes") || !strings.Contains(page, `<a href="/ui/?span=hour" id="span-hour">hour</a>`) {
		t.Error("the day's page does not say its step or link the hour")
	}
}

func TestQueuesPage_RefusesAnUnknownSpan(t *testing.T) {
	t.Parallel()
	code, _, page := getQueuesPage(t, &chartsBackend{}, "?span=week")
	if code != http.StatusBadRequest || !strings.Contains(page, "span: &#34;week&#34; is not hour or day") {
		t.Fatalf("status %d, page:\n%s", code, page)
	}
}

func TestQueuesPage_ShowsTheQueuesWithoutCharts(t *testing.T) {
	t.Parallel()
	b := &chartsBackend{err: errors.New("charts of the last hour: no kilnd that keeps the job records answers")}
	code, _, page := getQueuesPage(t, b, "")
	if code != http.StatusOK || !strings.Contains(page, `data-queue="images"`) ||
		!strings.Contains(page, "The charts cannot be shown: charts of the last hour: no kilnd that keeps the job records answers") {
		t.Fatalf("status %d, page:\n%s", code, page)
	}
}
