package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"kiln/worker/image/imageapi"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// dashboardClient is a browser-like client: cookies, no redirects
// followed, so that each answer can be checked.
func dashboardClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func postForm(t *testing.T, c *http.Client, u string, form url.Values, origin string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func getBody(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The dashboard's guards, request by request: login by password made with
// kilnd -hash-password, forms refused without the session's CSRF token or
// from another origin, a read-only login refused the buttons, a session
// cookie that can read the API but change nothing through it, and a job's
// output refused once it is a symlink out of the output directory.
func TestDashboardGuards(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hash := exec.Command(kilndPath(), "-hash-password")
	hash.Stdin = strings.NewReader("correct horse battery staple\n")
	field, err := hash.Output()
	if err != nil {
		t.Fatalf("kilnd -hash-password: %v", err)
	}
	addr := freeAddr(t)
	base := "http://" + addr
	tokens := e.writeTokens(t, tokenLine{"alice", "admin", strings.TrimSpace(string(field))}, tokenLine{"viewer", "read", "viewer-token-0123456789"})
	e.writeConfig(t, e.configText("", httpTable(addr, tokens, "")))
	e.start(t)

	anon := dashboardClient(t)
	if resp, _ := anon.Get(base + "/ui/jobs"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login") {
		t.Fatalf("a page without login: %d to %q, want a redirect to the login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := postForm(t, anon, base+"/ui/login", url.Values{"name": {"alice"}, "secret": {"wrong password here"}}, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}

	alice := dashboardClient(t)
	if resp := postForm(t, alice, base+"/ui/login", url.Values{"name": {"alice"}, "secret": {"correct horse battery staple"}, "next": {"https://evil.example/"}}, base); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("password login: %d to %q, want 303 to /ui/ (never to another site)", resp.StatusCode, resp.Header.Get("Location"))
	}
	code, page := getBody(t, alice, base+"/ui/")
	m := csrfField.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("queues page: %d, CSRF field %v", code, m)
	}
	csrf := m[1]
	pause := base + "/ui/queues/images/pause"
	if resp := postForm(t, alice, pause, url.Values{}, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("pause without the CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp := postForm(t, alice, pause, url.Values{"csrf": {csrf}}, "http://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("pause from another origin: %d, want 403", resp.StatusCode)
	}
	if st, _ := e.client().Status(context.Background()); st.Queues["images"].Paused {
		t.Fatal("a refused form paused the queue")
	}
	if resp := postForm(t, alice, pause, url.Values{"csrf": {csrf}, "back": {"/ui/"}}, base); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pause with the token: %d, want 303", resp.StatusCode)
	}
	if st, _ := e.client().Status(context.Background()); !st.Queues["images"].Paused {
		t.Fatal("the pause button did not pause the queue")
	}
	// The session reads the API (the pages' event stream does) but cannot
	// change anything through it.
	if code, _ := getBody(t, alice, base+"/v1/status"); code != http.StatusOK {
		t.Fatalf("GET /v1/status with the session: %d", code)
	}
	if resp := postForm(t, alice, base+"/v1/queues/images/resume", url.Values{}, base); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST to the API with only a session cookie: %d, want 401", resp.StatusCode)
	}

	viewer := dashboardClient(t)
	postForm(t, viewer, base+"/ui/login", url.Values{"secret": {"viewer-token-0123456789"}}, "")
	code, page = getBody(t, viewer, base+"/ui/")
	if code != http.StatusOK || strings.Contains(page, `class="resume"`) {
		t.Fatalf("a read-only login: %d, and it is shown buttons: %v", code, strings.Contains(page, `class="resume"`))
	}
	m = csrfField.FindStringSubmatch(page)
	if resp := postForm(t, viewer, base+"/ui/queues/images/resume", url.Values{"csrf": {m[1]}}, base); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("resume by a read-only login: %d, want 403", resp.StatusCode)
	}

	// A job's output is served from inside the output directory only.
	e.client().Resume(context.Background(), "images")
	job, err := e.client().Submit(context.Background(), imageapi.Request("web", e.picture(t, "p.jpg", 300, 200)))
	if err != nil {
		t.Fatal(err)
	}
	done := e.finished(t, job.ID)
	res, err := imageapi.ParseResult(done.Result)
	if err != nil || len(res.Outputs) == 0 {
		t.Fatalf("result %s: %v", done.Result, err)
	}
	resp, err := alice.Get(base + "/ui/jobs/" + job.ID + "/outputs/0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "image/") {
		t.Fatalf("an output: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	outside := filepath.Join(e.dir, "outside.jpg")
	os.WriteFile(outside, []byte("not for the web"), 0o644)
	os.Remove(res.Outputs[0].Path)
	if err := os.Symlink(outside, res.Outputs[0].Path); err != nil {
		t.Fatal(err)
	}
	if code, body := getBody(t, alice, base+"/ui/jobs/"+job.ID+"/outputs/0"); code != http.StatusForbidden || strings.Contains(body, "not for the web") {
		t.Fatalf("an output replaced by a symlink out: %d %q, want 403", code, body)
	}
}
