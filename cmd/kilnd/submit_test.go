package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kiln/api"
	"kiln/worker"
)

func TestSubmitWaitWritesEveryVariant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.start(t)
	pic := e.picture(t, "cat.jpg", 1200, 900)

	r := e.kilnctl(t, "submit", "-pipeline", "web", pic, "-wait")
	if r.code != 0 {
		t.Fatalf("kilnctl submit -wait: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"state     succeeded", "w400", "400x300", "thumb", "100x75"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	r = e.kilnctl(t, "submit", "-json", "-pipeline", "web", pic)
	jobs := decodeJSONLines[api.Job](t, r.stdout)
	if r.code != 0 || len(jobs) != 1 || jobs[0].ID == "" {
		t.Fatalf("submit -json: exit %d, %q", r.code, r.stdout)
	}
	j := e.finished(t, jobs[0].ID)
	if j.State != worker.StateSucceeded {
		t.Fatalf("job %s: %s %s", j.ID, j.State, j.LastError)
	}
	for _, f := range []string{"w400.jpg", "thumb.webp"} {
		if st, err := os.Stat(filepath.Join(e.out, j.ID, f)); err != nil || st.Size() == 0 {
			t.Errorf("output %s: %v", f, err)
		}
	}

	r = e.kilnctl(t, "job", "-json", j.ID)
	var shown api.Job
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || shown.State != worker.StateSucceeded {
		t.Fatalf("kilnctl job -json: %q (%v)", r.stdout, err)
	}
	r = e.kilnctl(t, "status")
	if r.code != 0 || !strings.Contains(r.stdout, "images") {
		t.Fatalf("kilnctl status: %d %q", r.code, r.stdout)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("kilnd exit code after SIGTERM = %d", code)
	}
	if _, err := os.Stat(e.pid); !os.IsNotExist(err) {
		t.Errorf("pidfile left after a clean stop: %v", err)
	}
}

func TestBadSubmitsAreRefusedAndQueueNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(t)
	pic := e.picture(t, "ok.jpg", 64, 64)
	notPicture := filepath.Join(e.pics, "notes.jpg")
	os.WriteFile(notPicture, []byte("just text"), 0o644)

	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"missing file":     {[]string{"submit", "-pipeline", "web", filepath.Join(e.pics, "nope.jpg")}, "no such file or directory"},
		"not a picture":    {[]string{"submit", "-pipeline", "web", notPicture}, "is not a picture kiln reads"},
		"unknown pipeline": {[]string{"submit", "-pipeline", "mobile", pic}, `unknown pipeline "mobile"`},
		"no pipeline":      {[]string{"submit", pic}, "-pipeline is required"},
	} {
		r := e.kilnctl(t, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want non-zero and %q", name, r.code, r.stderr, tc.want)
		}
	}

	// Applications using the socket directly get a 4xx naming the field.
	httpc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", e.socket)
	}}}
	for body, want := range map[string]string{
		`{"type":"image","payload":{"pipeline":"web","input":"` + pic + `"},"colour":"red"}`:                  `unknown field \"colour\"`,
		`{"type":"image","payload":{"pipeline":"web","input":"` + pic + `"},"priority":"high"}`:               `priority: must be an integer, not string`,
		`{"type":"image","payload":{"pipeline":"web","input":"` + pic + `"},"priority":-1}`:                   `priority: must be between 0 and 1000`,
		`{"type":"image","payload":{"pipeline":"web","input":"` + pic + `"},"run_at":"soon"}`:                 `run_at: \"soon\" is not an RFC 3339 time`,
		`{"type":"image","payload":{"pipeline":"web","input":"` + pic + `"},"run_at":"2001-01-01T00:00:00Z"}`: `run_at: 2001-01-01T00:00:00Z is more than 24h0m0s in the past`,
		`{"type":"image","payload":{"pipeline":"web","input":"` + pic + `"},"queue":"nope"}`:                  `queue: unknown queue \"nope\"`,
		`{"type":"image","payload":{"pipeline":"web","input":"` + pic + `","x":1}}`:                           `payload: image payload: json: unknown field \"x\"`,
		`{"type":"image","payload":"` + strings.Repeat("a", 70000) + `"}`:                                     `payload: 70002 bytes is over the 64 KiB limit`,
		`{"type":"video"}`: `type: no job kind \"video\"`,
		`{"type":"image","payload":{"pipeline":"web","input":42}}`:          `payload.input: must be a string, not a number`,
		`{"type":"image","payload":{"pipeline":"mobile","input":"/x.jpg"}}`: `payload.pipeline: unknown pipeline \"mobile\"`,
		`{"type":"image"`: `invalid JSON`,
	} {
		resp, err := httpc.Post("http://kiln/v1/jobs", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), want) {
			t.Errorf("POST %s: %d %s; want 400 with %q", body, resp.StatusCode, msg, want)
		}
	}

	st, err := e.client().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for q, qs := range st.Queues {
		for s, n := range qs.Counts {
			if n != 0 {
				t.Errorf("queue %s has %d %s jobs after refused submits", q, n, s)
			}
		}
	}
}

// A picture that passes the submit check but that libvips cannot decode
// ends dead, in kiln's words with the decoder's own, and the daemon carries on.
func TestUndecodablePictureEndsDeadAndDaemonServes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(t)
	bad := filepath.Join(e.pics, "bad.jpg")
	os.WriteFile(bad, append([]byte{0xff, 0xd8, 0xff, 0xe0}, make([]byte, 200)...), 0o644)

	r := e.kilnctl(t, "submit", "-wait", "-json", "-pipeline", "web", bad)
	jobs := decodeJSONLines[api.Job](t, r.stdout)
	if r.code == 0 || len(jobs) != 1 {
		t.Fatalf("submit -wait of a broken picture: exit %d, %q", r.code, r.stdout)
	}
	if jobs[0].State != worker.StateDead || jobs[0].Attempts != 1 || !strings.Contains(jobs[0].LastError, "decode "+bad+": the picture is damaged or cut short (libvips: ") {
		t.Fatalf("broken picture job: state %s attempts %d error %q", jobs[0].State, jobs[0].Attempts, jobs[0].LastError)
	}
	good := e.picture(t, "good.jpg", 300, 200)
	r = e.kilnctl(t, "submit", "-wait", "-pipeline", "web", good)
	if r.code != 0 || !strings.Contains(r.stdout, "succeeded") {
		t.Fatalf("daemon did not carry on: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestSecondInstanceIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.start(t)
	out, err := execKilnd(t, "-config", e.config)
	if err == nil {
		t.Fatal("second kilnd started")
	}
	want := "another kilnd is already running (pid " + itoa(d.cmd.Process.Pid) + " holds " + e.pid + ")"
	if !strings.Contains(out, want) {
		t.Fatalf("second kilnd said %q, want %q", out, want)
	}
	if code := exitCode(err); code != 69 {
		t.Fatalf("second kilnd exit code %d, want 69", code)
	}
	// The first one is unharmed.
	if r := e.kilnctl(t, "status"); r.code != 0 {
		t.Fatalf("first kilnd no longer answers: %q", r.stderr)
	}
}

func TestConfigErrorsExit78(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out, err := execKilnd(t, "-check-config", "-config", e.config)
	if err != nil || strings.TrimSpace(out) != "config OK" {
		t.Fatalf("-check-config on a good file: %q, %v", out, err)
	}
	// Four problems: each is reported, on a line of its own, in the file's
	// order, with the index of the array table it is in.
	bad := strings.Replace(e.configText("", "\n[images]\nmax_input_bytes = \"100 megs\"\n"), "width = 400", "width = -4", 1)
	bad = strings.Replace(bad, "[daemon]\n", "[daemon]\nworkers = 3\n", 1)
	bad = strings.Replace(bad, "height = 100\n", "height = 100\nqualty = 80\n", 1)
	e.writeConfig(t, bad)
	want := []string{
		e.config + ":2: daemon.workers: unknown key",
		e.config + ":24: pipelines.web.variants[0].width: must be between 1 and 100000 (or 0 to follow height)",
		e.config + ":32: pipelines.web.variants[1].qualty: unknown key",
		e.config + `:36: images.max_input_bytes: invalid size "100 megs" (use e.g. "100MiB")`,
	}
	out, err = execKilnd(t, "-check-config", "-config", e.config)
	if code := exitCode(err); code != 78 {
		t.Errorf("kilnd -check-config: exit %d, want 78", code)
	}
	if got := strings.Split(strings.TrimSpace(out), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("kilnd -check-config printed:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
	out, err = execKilnd(t, "-config", e.config)
	if code := exitCode(err); code != 78 {
		t.Errorf("kilnd start: exit %d, want 78", code)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("kilnd start said %q, want %q", out, w)
		}
	}
}

// kilnctl submit with a directory, files and "-": every picture goes over
// one stream; a refused one is reported with its reason and the rest run;
// -json prints one line per picture; without a terminal there is no bar.
func TestSubmitManyPictures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(t)
	dir := filepath.Join(e.pics, "album")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, name := range []string{"album/a.jpg", "album/sub/b.JPG", "album/sub/c.jpeg"} {
		want = append(want, e.picture(t, name, 40+i, 30))
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not walked"), 0o644)
	single := e.picture(t, "single.jpg", 50, 40)
	fromStdin := e.picture(t, "stdin.jpg", 60, 40)
	missing := filepath.Join(e.pics, "missing.jpg")
	want = append(want, single, fromStdin, missing)

	r := e.kilnctlStdin(t, fromStdin+"\n"+missing+"\n", "submit", "-pipeline", "web", "-json", dir, single, "-")
	if r.code == 0 {
		t.Errorf("exit 0 with a refused picture")
	}
	lines := decodeJSONLines[struct {
		Input, ID, Error string
		Status           int
	}](t, r.stdout)
	got := map[string]bool{}
	for _, l := range lines {
		got[l.Input] = true
		switch {
		case l.Input == missing:
			if l.ID != "" || l.Status != 400 || !strings.Contains(l.Error, "no such file or directory") {
				t.Errorf("missing picture: %+v", l)
			}
		case l.ID == "" || l.Error != "":
			t.Errorf("picture %s: %+v", l.Input, l)
		default:
			if j := e.finished(t, l.ID); j.State != worker.StateSucceeded {
				t.Errorf("job of %s: %s %s", l.Input, j.State, j.LastError)
			}
		}
	}
	if len(lines) != len(want) {
		t.Errorf("%d lines for %d pictures:\n%s", len(lines), len(want), r.stdout)
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no line for %s", w)
		}
	}
	for _, s := range []string{"kilnctl submit: " + missing + ": payload.input:", "submitted 5 of 6 pictures", "1 refused"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "ETA") {
		t.Errorf("a progress bar without a terminal:\n%q", r.stderr)
	}

	r = e.kilnctl(t, "submit", "-pipeline", "web", "-wait", dir)
	if r.code != 0 || !strings.Contains(r.stderr, "succeeded 3, dead 0") || strings.Count(r.stdout, "state     succeeded") != 3 {
		t.Errorf("submit -wait of a directory: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
