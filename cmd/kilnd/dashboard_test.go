package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"kiln/worker/image/imageapi"
)

// browser is a headless Debian chromium driven over CDP.
type browser struct {
	t       *testing.T
	ctx     context.Context
	shots   string
	dialogs atomic.Int64 // alert() and friends opened: an injected script ran
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed (make deps-test installs Debian's package)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, shots: t.ArtifactDir()}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			b.dialogs.Add(1)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return b
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// waitFor polls a JavaScript condition in the page until it holds.
func (b *browser) waitFor(what, condition string) {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](condition, chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingInterval(100*time.Millisecond)))
		if err == nil {
			return
		}
		// A form's POST and its redirect replace the page under the poll:
		// poll again in the new one.
		if b.ctx.Err() == nil && time.Now().Before(deadline) && isNavigationError(err) {
			continue
		}
		html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		b.t.Fatalf("waiting for %s (%s): %v\npage main:\n%s", what, condition, err, html)
	}
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// screenshot saves the whole page as NAME.png in the test's artifact dir.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	// A form's POST answers with a redirect, so the page can be between two
	// documents when the condition before this was seen; the capture needs
	// a laid-out page ("Cannot take screenshot with 0 width" otherwise).
	b.waitFor("page "+name+" laid out", `document.readyState === 'complete' && document.documentElement.getBoundingClientRect().width > 0`)
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// The dashboard in a real browser: log in, see the queues, watch submitted
// pictures appear as thumbnails without reloading, open a job's page, see
// a dead job whose error holds <script> shown as text, retry it with the
// button and see it succeed. Every page is saved as a screenshot.
func TestDashboardInChromium(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := freeAddr(t)
	const token = "dashboard-admin-token-0123"
	tokens := e.writeTokens(t, tokenLine{"operator", "admin", token})
	e.writeConfig(t, e.configText("", httpTable(addr, tokens, "")))
	e.start(t)
	b := startBrowser(t)
	base := "http://" + addr

	b.do("open the dashboard", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#secret")))
	b.screenshot("1-login")
	b.do("log in with a wrong token", chromedp.SendKeys(chromedp.CSS("#secret"), "not-the-token-at-all"), chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("#login-error")))
	b.do("log in", chromedp.SendKeys(chromedp.CSS("#secret"), token), chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("table.queues")))
	b.waitFor("the images queue", `document.querySelector('tr.queue[data-queue="images"] td.name') !== null`)

	// Pause and resume with the buttons.
	b.do("pause images", chromedp.Click(chromedp.CSS(`tr[data-queue="images"] button.pause`)))
	b.waitFor("images paused", `document.querySelector('tr.queue.paused[data-queue="images"] button.resume') !== null`)
	b.screenshot("2-queues-paused")
	b.do("resume images", chromedp.Click(chromedp.CSS(`tr[data-queue="images"] button.resume`)))
	b.waitFor("images resumed", `document.querySelector('tr.queue[data-queue="images"] button.pause') !== null`)

	// Pictures submitted through the API appear on the open jobs page.
	b.do("open the jobs of images", chromedp.Navigate(base+"/ui/jobs?queue=images"), chromedp.WaitVisible(chromedp.CSS("table.jobs")))
	b.waitFor("the event stream", `document.getElementById('main').dataset.live_connected === '1'`)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 3; i++ {
		pic := e.picture(t, fmt.Sprintf("pic%d.jpg", i), 640+i*40, 480)
		j, err := e.client().Submit(ctx, imageapi.Request("web", pic))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		e.finished(t, id)
	}
	b.waitFor("three thumbnails, loaded", `(() => {
		const imgs = [...document.querySelectorAll('tr.job[data-state="succeeded"] img.thumb')];
		return imgs.length === 3 && imgs.every(i => i.complete && i.naturalWidth > 0);
	})()`)
	if n := b.eval(`document.getElementById('main').dataset.refreshed || "0"`); n == "0" {
		t.Fatal("the thumbnails came without a live refresh of the page")
	}
	b.screenshot("3-jobs-with-thumbnails")

	b.do("open a job", chromedp.Navigate(base+"/ui/jobs/"+ids[0]), chromedp.WaitVisible(chromedp.CSS("div.outputs")))
	b.waitFor("both variants shown", `(() => {
		const imgs = [...document.querySelectorAll('figure.output img')];
		return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0);
	})()`)
	b.screenshot("4-job-outputs")

	// A dead job whose error holds markup: the picture's path is
	// .../<script>alert(1)</script>.jpg, and it vanishes before it runs.
	hostileDir := filepath.Join(e.pics, "<script>alert(1)<")
	if err := os.MkdirAll(hostileDir, 0o755); err != nil {
		t.Fatal(err)
	}
	hostile := filepath.Join(hostileDir, "script>.jpg")
	src := e.picture(t, "hostile-src.jpg", 300, 200)
	if err := os.Rename(src, hostile); err != nil {
		t.Fatal(err)
	}
	if err := e.client().Pause(ctx, "images"); err != nil {
		t.Fatal(err)
	}
	dead, err := e.client().Submit(ctx, imageapi.Request("web", hostile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(hostile, src); err != nil {
		t.Fatal(err)
	}
	if err := e.client().Resume(ctx, "images"); err != nil {
		t.Fatal(err)
	}
	if j := e.finished(t, dead.ID); j.State != "dead" || !strings.Contains(j.LastError, "<script>alert(1)</script>") {
		t.Fatalf("hostile job ended %s with %q; want dead with the path in its error", j.State, j.LastError)
	}

	b.do("open the dead jobs", chromedp.Navigate(base+"/ui/dead"), chromedp.WaitVisible(chromedp.CSS("table.jobs")))
	row := `tr.job[data-job="` + dead.ID + `"]`
	b.waitFor("the dead job", `document.querySelector('`+row+`') !== null`)
	if got := b.eval(`document.querySelector('` + row + ` td.error').textContent`); !strings.Contains(got, "<script>alert(1)</script>") {
		t.Fatalf("the error is not shown as text: %q", got)
	}
	if n := b.eval(`String(document.querySelectorAll('main script').length)`); n != "0" {
		t.Fatalf("%s script elements inside the page's main part: job text became markup", n)
	}
	b.screenshot("5-dead-jobs")
	b.do("open the dead job", chromedp.Navigate(base+"/ui/jobs/"+dead.ID), chromedp.WaitVisible(chromedp.CSS("#last-error")))
	if got := b.eval(`document.getElementById('last-error').textContent`); !strings.Contains(got, "<script>alert(1)</script>") {
		t.Fatalf("the job page does not show the error as text: %q", got)
	}
	b.screenshot("6-dead-job")

	// The picture is back: the retry button runs the job again, and the
	// page follows it to success.
	if err := os.Rename(src, hostile); err != nil {
		t.Fatal(err)
	}
	b.do("retry", chromedp.Click(chromedp.CSS("#retry")))
	b.waitFor("the retried job succeeded, with its pictures", `(() => {
		const st = document.querySelector('h1 .state');
		const imgs = [...document.querySelectorAll('figure.output img')];
		return st && st.textContent === 'succeeded' && imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0);
	})()`)
	b.screenshot("7-retried-job")
	if n := b.dialogs.Load(); n != 0 {
		t.Fatalf("%d JavaScript dialogs opened: a job's text ran as script", n)
	}
}

// isNavigationError tells the errors of a page replaced under a running
// script, which a poll survives by starting again.
func isNavigationError(err error) bool {
	for _, s := range []string{"navigated", "context was destroyed", "Cannot find context"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}
