package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kiln/api"
)

// The queues page's charts in a real browser after a minute of load:
// noop jobs of varied length on images, some that time out and fail, and
// a pause that lets a backlog build up. Each chart of images must draw
// points, each step's title must tell its values, the switch must show the
// last day; both are saved as screenshots. The charts file must be in the
// state directory after kilnd stops.
func TestDashboardChartsInChromium(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := freeAddr(t)
	const token = "dashboard-charts-token-0123"
	tokens := e.writeTokens(t, tokenLine{"operator", "read", token})
	e.writeConfig(t, e.configText("[log]\ntarget = \"stderr\"\nlevel = \"info\"\n", httpTable(addr, tokens, "")))
	k := e.start(t)

	ctx := context.Background()
	c := e.client()
	submit := func(payload, timeout string) {
		t.Helper()
		if _, err := c.Submit(ctx, api.SubmitRequest{Type: "noop", Queue: "images", Payload: json.RawMessage(payload), Timeout: timeout}); err != nil {
			t.Fatal(err)
		}
	}
	// The load spans two minute steps at least, whenever it starts.
	loadUntil := time.Now().Add(65 * time.Second)
	paused := false
	for i := 0; time.Now().Before(loadUntil); i++ {
		submit(`{"sleep":"`+strconv.Itoa(5+(i%8)*20)+`ms"}`, "")
		if i%15 == 0 {
			submit(`{"sleep":"300ms"}`, "50ms") // times out: retried, then dead
		}
		// A backlog for the queued chart, and longer waits, for a while.
		switch elapsed := 65*time.Second - time.Until(loadUntil); {
		case !paused && elapsed > 20*time.Second && elapsed < 30*time.Second:
			if err := c.Pause(ctx, "images"); err != nil {
				t.Fatal(err)
			}
			paused = true
		case paused && elapsed >= 30*time.Second:
			if err := c.Resume(ctx, "images"); err != nil {
				t.Fatal(err)
			}
			paused = false
		}
		time.Sleep(100 * time.Millisecond) // the pace of the load, not a wait for anything
	}
	if paused {
		if err := c.Resume(ctx, "images"); err != nil {
			t.Fatal(err)
		}
	}

	b := startBrowser(t)
	base := "http://" + addr
	b.do("open the dashboard", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#secret")))
	b.do("log in", chromedp.SendKeys(chromedp.CSS("#secret"), token), chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("table.queues")))
	charts := `document.querySelector('.queue-charts[data-queue="images"]')`
	points := func(kind string) string {
		return charts + `.querySelector('svg.chart-` + kind + `').dataset.points`
	}
	drawn := `(() => { const c = ` + charts + `; if (!c) return false;
		return ['attempts', 'wait', 'run', 'queued'].every(k => Number(c.querySelector('svg.chart-' + k).dataset.points) > 0); })()`
	b.waitFor("every chart of images drawing points", drawn)
	counts := map[string]int{}
	for _, kind := range []string{"attempts", "wait", "run", "queued"} {
		n, _ := strconv.Atoi(b.eval(points(kind)))
		counts[kind] = n
	}
	if counts["attempts"] < 2 {
		t.Fatalf("the attempts chart drew %d minutes of a load over two at least", counts["attempts"])
	}
	titles := b.eval(`[...` + charts + `.querySelectorAll('svg.chart-attempts rect.hit title')].map(t => t.textContent).filter(s => !s.endsWith(': 0 done, 0 failed')).join('\n')`)
	if !strings.Contains(titles, " done, ") || !strings.Contains(titles, "UTC: ") {
		t.Fatalf("the attempts chart's titles tell no values: %q", titles)
	}
	failed := b.eval(`String([...` + charts + `.querySelectorAll('table.visually-hidden tbody tr td:nth-child(3)')].reduce((s, td) => s + Number(td.textContent), 0))`)
	if n, _ := strconv.Atoi(failed); n == 0 {
		t.Fatalf("no failed attempt in the hidden table, after jobs that time out")
	}
	t.Logf("steps drawn per chart %v; failed attempts in the hour %s; attempts' titles:\n%s", counts, failed, titles)
	b.do("scroll to the charts", chromedp.ScrollIntoView(chromedp.CSS(`.queue-charts[data-queue="images"]`)))
	b.screenshot("8-queue-charts-hour")

	b.do("show the last day", chromedp.Click(chromedp.CSS("#span-day")))
	b.waitFor("the day's charts", `location.search === '?span=day' && (() => { const c = `+charts+`; return c && Number(c.querySelector('svg.chart-attempts').dataset.points) > 0; })()`)
	if n := b.eval(`String(` + charts + `.querySelectorAll('svg.chart-attempts rect.hit').length)`); n != "96" {
		t.Fatalf("the day's chart has %s steps; want 96 quarter hours", n)
	}
	b.screenshot("9-queue-charts-day")
	if n := b.dialogs.Load(); n != 0 {
		t.Fatalf("%d JavaScript dialogs opened", n)
	}

	k.stop(t)
	data, err := os.ReadFile(filepath.Join(e.state, "charts.json"))
	if err != nil {
		t.Fatalf("the charts were not saved at stop: %v", err)
	}
	if !strings.Contains(string(data), `"images"`) {
		t.Fatalf("the saved charts hold no images queue: %s", data)
	}
	fmt.Fprintf(os.Stderr, "charts.json: %d bytes after a minute of load\n", len(data))
}
