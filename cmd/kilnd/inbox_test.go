package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kiln/worker"
	"kiln/worker/image/imagetest"
	"kiln/worker/inbox"
)

// inboxEnv is an env whose pipeline drop has an inbox.
type inboxEnv struct {
	*env
	inbox string
	out   string // the pipeline's output_dir
}

func newInboxEnv(t *testing.T, keys string) *inboxEnv {
	t.Helper()
	e := newEnv(t)
	ie := &inboxEnv{env: e, inbox: filepath.Join(e.dir, "inbox", "drop"), out: filepath.Join(e.dir, "out", "drop")}
	e.writeConfig(t, e.configText("", fmt.Sprintf(`
[pipelines.drop]
queue = "images"
output_dir = %q
inbox = %q
inbox_settle = "1s"
%s
[[pipelines.drop.variants]]
name = "w400"
width = 400
format = "jpeg"
quality = 80

[[pipelines.drop.variants]]
name = "thumb"
width = 100
height = 100
fit = "cover"
format = "webp"
`, ie.out, ie.inbox, keys)))
	return ie
}

// names lists the regular files of the inbox's sub ("" for the inbox).
func (e *inboxEnv) names(t *testing.T, sub string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.inbox, sub))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range entries {
		if d.Type().IsRegular() {
			out = append(out, d.Name())
		}
	}
	return out
}

func (e *inboxEnv) waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not timing
	}
}

// jobsPerPicture counts the jobs of each picture, by the unique key an
// inbox gives its jobs, and fails on a job of the pipeline that has none
// or that did not succeed.
func (e *inboxEnv) jobsPerPicture(t *testing.T) map[string]int {
	t.Helper()
	jobs, err := e.client().List(context.Background(), "images", "", 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, j := range jobs {
		if !strings.HasPrefix(j.UniqueKey, inbox.UniqueKey("drop", "")) {
			t.Errorf("job %s has unique key %q", j.ID, j.UniqueKey)
		}
		if j.State != worker.StateSucceeded {
			t.Errorf("job %s (%s) is %s: %s", j.ID, j.UniqueKey, j.State, j.LastError)
		}
		for _, v := range []string{"w400.jpg", "thumb.webp"} {
			if _, err := os.Stat(filepath.Join(e.out, j.ID, v)); err != nil {
				t.Errorf("job %s: %v", j.ID, err)
			}
		}
		out[j.UniqueKey]++
	}
	return out
}

// checkOnce fails unless there are n pictures' jobs, one each.
func (e *inboxEnv) checkOnce(t *testing.T, n int) {
	t.Helper()
	per := e.jobsPerPicture(t)
	if len(per) != n {
		t.Errorf("%d pictures have jobs, want %d", len(per), n)
	}
	for key, c := range per {
		if c != 1 {
			t.Errorf("picture %s has %d jobs", key, c)
		}
	}
}

// dropWhole writes a picture beside the inbox and renames it in, as an
// uploader that writes to a temporary name does.
func (e *inboxEnv) dropWhole(t *testing.T, name string, data []byte) {
	t.Helper()
	tmp := filepath.Join(e.inbox, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.inbox, name)); err != nil {
		t.Fatal(err)
	}
}

// 500 pictures copied in chunk by chunk while kilnd runs, 50 open at a
// time: none is taken half written (a whole picture dropped halfway
// through each round is done while they still wait), each is processed
// once. A picture renamed in is taken; a .part file is left alone; a file
// that is no picture lands in failed/ with its reason.
func TestInboxTakesSlowCopiesOnce(t *testing.T) {
	t.Parallel()
	e := newInboxEnv(t, "")
	d := e.start(t)
	e.waitFor(t, "the inbox", 10*time.Second, func() bool {
		_, err := os.Stat(inbox.ProcessingDir(e.inbox))
		return err == nil
	})
	if err := os.WriteFile(filepath.Join(e.inbox, "upload.jpg.part"), imagetest.JPEG(64, 48), 0o644); err != nil {
		t.Fatal(err)
	}
	const n, open, chunk = 500, 50, 256
	files := map[string][]byte{}
	var names []string
	for i := range n {
		name := fmt.Sprintf("p%03d.jpg", i)
		files[name] = imagetest.JPEG(48+i%16, 32+i/16)
		names = append(names, name)
	}
	rounds := 0
	for len(names) > 0 {
		batch := names[:min(open, len(names))]
		names = names[len(batch):]
		writers := make([]*os.File, len(batch))
		written := make([]int, len(batch))
		for i, name := range batch {
			f, err := os.Create(filepath.Join(e.inbox, name))
			if err != nil {
				t.Fatal(err)
			}
			writers[i] = f
		}
		writeUntil := func(part func(size int) int) {
			for more := true; more; {
				more = false
				for i, name := range batch {
					end := min(written[i]+chunk, part(len(files[name])))
					if end <= written[i] {
						continue
					}
					if _, err := writers[i].Write(files[name][written[i]:end]); err != nil {
						t.Fatal(err)
					}
					written[i], more = end, true
				}
			}
		}
		writeUntil(func(size int) int { return size / 2 })
		sentinel := fmt.Sprintf("sentinel%02d.jpg", rounds)
		e.dropWhole(t, sentinel, imagetest.JPEG(40, 24+rounds))
		e.waitFor(t, sentinel+" in done/", 60*time.Second, func() bool { return slices.Contains(e.names(t, "done"), sentinel) })
		inInbox := e.names(t, "")
		for _, name := range batch {
			if !slices.Contains(inInbox, name) {
				t.Fatalf("%s was taken half written", name)
			}
		}
		writeUntil(func(size int) int { return size })
		for _, f := range writers {
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}
		rounds++
	}
	if err := os.WriteFile(filepath.Join(e.inbox, "notes.jpg"), []byte("a shopping list, not a picture\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	total := n + rounds
	e.waitFor(t, "every picture in done/", 2*time.Minute, func() bool { return len(e.names(t, "done")) == total })
	e.waitFor(t, "notes.jpg in failed/", 30*time.Second, func() bool { return slices.Contains(e.names(t, "failed"), "notes.jpg") })

	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(e.inbox, "done", name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(data) {
			t.Errorf("done/%s is not what was dropped", name)
		}
	}
	reason, err := os.ReadFile(filepath.Join(e.inbox, "failed", "notes.jpg.error.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(reason), "notes.jpg: ") || !strings.Contains(string(reason), "is not a picture kiln reads") {
		t.Errorf("notes.jpg.error.txt says %q", reason)
	}
	if left := e.names(t, ""); !slices.Equal(left, []string{"upload.jpg.part"}) {
		t.Errorf("the inbox holds %v, want the .part file alone", left)
	}
	e.checkOnce(t, total)
	if code := d.stop(t); code != 0 {
		t.Errorf("kilnd exited %d", code)
	}
}

// Pictures dropped while kilnd is stopped are taken when it starts.
func TestInboxTakesWhatCameWhileStopped(t *testing.T) {
	t.Parallel()
	e := newInboxEnv(t, "")
	d := e.start(t)
	e.waitFor(t, "the inbox", 10*time.Second, func() bool {
		_, err := os.Stat(inbox.ProcessingDir(e.inbox))
		return err == nil
	})
	d.stop(t)
	const n = 30
	for i := range n {
		if i%2 == 0 {
			e.dropWhole(t, fmt.Sprintf("s%02d.jpg", i), imagetest.JPEG(48, 32+i))
		} else if err := os.WriteFile(filepath.Join(e.inbox, fmt.Sprintf("s%02d.jpg", i)), imagetest.JPEG(48, 32+i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.start(t)
	e.waitFor(t, "30 pictures in done/", 60*time.Second, func() bool { return len(e.names(t, "done")) == n })
	e.checkOnce(t, n)
}

// kill -9 in the middle of a burst, twice, and a restart after each:
// every picture is done once, with one job, and none is lost.
func TestInboxKill9MidBurstLosesNothing(t *testing.T) {
	t.Parallel()
	e := newInboxEnv(t, "inbox_keep = true\n")
	d := e.start(t)
	e.waitFor(t, "the inbox", 10*time.Second, func() bool {
		_, err := os.Stat(inbox.ProcessingDir(e.inbox))
		return err == nil
	})
	// The pictures are made beforehand, so that the burst is renames
	// alone and the kills fall in its middle.
	const n = 300
	staging := filepath.Join(e.dir, "staging")
	os.Mkdir(staging, 0o755)
	for i := range n {
		if err := os.WriteFile(filepath.Join(staging, fmt.Sprintf("k%03d.jpg", i)), imagetest.JPEG(160+i%40, 120+i/40), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		name := fmt.Sprintf("k%03d.jpg", i)
		if err := os.Rename(filepath.Join(staging, name), filepath.Join(e.inbox, name)); err != nil {
			t.Fatal(err)
		}
	}
	done := 0
	for _, more := range []int{n / 5, n / 4} {
		at := done + more
		e.waitFor(t, fmt.Sprintf("%d pictures in done/", at), 60*time.Second, func() bool { return len(e.names(t, "done")) >= at })
		d.kill(t)
		done = len(e.names(t, "done"))
		t.Logf("killed with %d pictures in done/, %d files in .processing (pictures and tickets), %d in the inbox", done, len(e.names(t, ".processing")), len(e.names(t, "")))
		d = e.start(t)
	}
	e.waitFor(t, "every picture in done/", 2*time.Minute, func() bool { return len(e.names(t, "done")) == n })
	e.waitFor(t, ".processing empty", 10*time.Second, func() bool { return len(e.names(t, ".processing")) == 0 })
	if f := e.names(t, "failed"); len(f) > 0 {
		t.Errorf("failed/ holds %v", f)
	}
	e.checkOnce(t, n)
}

// 500 pictures of 2 megapixels, renamed into the inbox at once: the time
// from the first drop until every picture's variants are written (its
// picture in done/, which follows its job's success).
func TestInboxThroughput(t *testing.T) {
	e := newInboxEnv(t, "")
	e.start(t)
	e.waitFor(t, "the inbox", 10*time.Second, func() bool {
		_, err := os.Stat(inbox.ProcessingDir(e.inbox))
		return err == nil
	})
	const n, w, h = 500, 1732, 1155 // 2.0 MP
	pic := imagetest.JPEG(w, h)
	staging := filepath.Join(e.dir, "staging")
	os.Mkdir(staging, 0o755)
	for i := range n {
		if err := os.WriteFile(filepath.Join(staging, fmt.Sprintf("t%03d.jpg", i)), pic, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("t%03d.jpg", i)
		if err := os.Rename(filepath.Join(staging, name), filepath.Join(e.inbox, name)); err != nil {
			t.Fatal(err)
		}
	}
	e.waitFor(t, "every picture in done/", 5*time.Minute, func() bool { return len(e.names(t, "done")) == n })
	took := time.Since(start)
	e.checkOnce(t, n)
	t.Logf("inbox throughput: %d pictures of %dx%d (%.1f MP, %d KiB), drop to variants written (w400 JPEG, 100x100 WebP): %.1f s, %.1f pictures/s (queue concurrency 2, race detector %v)",
		n, w, h, float64(w*h)/1e6, len(pic)>>10, took.Seconds(), n/took.Seconds(), raceEnabled)
}

// -check-config names an inbox outside what kiln.service lets kilnd
// write, with the drop-in that allows it, and refuses an inbox two
// pipelines share, a negative inbox_settle and an inbox_keep without an
// inbox, each at its line.
func TestInboxCheckConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	config := filepath.Join(dir, "kiln.toml")
	write := func(pipelines string) {
		// The packaged state_dir, which -check-config only looks at.
		text := fmt.Sprintf("[daemon]\nstate_dir = \"/var/lib/kiln\"\nsocket = %q\npidfile = %q\n%s", filepath.Join(dir, "kiln.sock"), filepath.Join(dir, "kilnd.pid"), pipelines)
		if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pipeline := func(name, keys string) string {
		return fmt.Sprintf("\n[pipelines.%s]\noutput_dir = \"/var/lib/kiln/out/%s\"\n%s[[pipelines.%s.variants]]\nname = \"w\"\nwidth = 100\n", name, name, keys, name)
	}
	write(pipeline("outside", "inbox = \"/srv/pictures/incoming\"\n") + pipeline("inside", "inbox = \"/var/lib/kiln/inbox/inside\"\ninbox_keep = false\n"))
	out, code := runKilnd(t, "-check-config", "-config", config)
	if code != 0 {
		t.Fatalf("-check-config exited %d:\n%s", code, out)
	}
	want := "warning: pipelines.outside.inbox: /srv/pictures/incoming is outside /var/lib/kiln, which is all that kiln.service lets kilnd write: allow it with a drop-in (systemctl edit kiln) holding [Service] ReadWritePaths=/srv/pictures/incoming"
	if !strings.Contains(out, want) {
		t.Errorf("-check-config said:\n%s\nwant the line\n%s", out, want)
	}
	if strings.Contains(out, "pipelines.inside.inbox") {
		t.Errorf("-check-config warns of an inbox inside /var/lib/kiln:\n%s", out)
	}

	write(pipeline("a", "inbox = \"/var/lib/kiln/inbox/shared\"\n") + pipeline("b", "inbox = \"/var/lib/kiln/inbox/shared\"\ninbox_settle = \"-1s\"\n") + pipeline("c", "inbox_keep = true\n"))
	out, code = runKilnd(t, "-check-config", "-config", config)
	if code != 78 {
		t.Fatalf("-check-config exited %d, want 78:\n%s", code, out)
	}
	for _, line := range []string{
		config + ":15: pipelines.b.inbox: /var/lib/kiln/inbox/shared is the inbox of pipeline a too",
		config + ":16: pipelines.b.inbox_settle: must not be negative",
		config + ":23: pipelines.c.inbox_keep: is set but inbox is not",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("-check-config said:\n%s\nwant the line\n%s", out, line)
		}
	}
}

// A reload that moves the inbox keeps the running one until a restart,
// and says so.
func TestInboxReloadKeepsTheInbox(t *testing.T) {
	t.Parallel()
	e := newInboxEnv(t, "")
	d := e.start(t)
	e.waitFor(t, "the inbox", 10*time.Second, func() bool {
		_, err := os.Stat(inbox.ProcessingDir(e.inbox))
		return err == nil
	})
	text, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(e.dir, "inbox", "moved")
	e.writeConfig(t, strings.Replace(string(text), fmt.Sprintf("inbox = %q", e.inbox), fmt.Sprintf("inbox = %q", moved), 1))
	if r := e.kilnctl(t, "reload"); r.code != 0 {
		t.Fatalf("reload exited %d: %s%s", r.code, r.stdout, r.stderr)
	}
	d.waitLog(t, "needs restart: pipelines.drop.inbox")
	e.dropWhole(t, "after-reload.jpg", imagetest.JPEG(48, 32))
	e.waitFor(t, "after-reload.jpg in done/", 30*time.Second, func() bool { return slices.Contains(e.names(t, "done"), "after-reload.jpg") })
	if _, err := os.Stat(moved); err == nil {
		t.Errorf("the reload made %s", moved)
	}
}
