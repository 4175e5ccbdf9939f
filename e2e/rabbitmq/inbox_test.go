package rabbitmq

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kiln/internal/rabbitnode"
	"kiln/worker"
	"kiln/worker/image/imageapi"
	"kiln/worker/image/imagetest"
	"kiln/worker/inbox"
)

// inboxHost is a kilnd on the rabbitmq backend whose pipeline drop has an
// inbox.
type inboxHost struct {
	*host
	inbox string
	out   string // the pipeline's output_dir
}

func startInboxHost(t *testing.T) *inboxHost {
	t.Helper()
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	root := shortDir(t, "ki")
	ih := &inboxHost{inbox: filepath.Join(root, "inbox"), out: filepath.Join(root, "out")}
	ih.host = writeHostConfig(t, "a", pics, hostConfig{urls: []string{brokerURL(node, "")}, prefix: uniquePrefix(t), concurrency: 2, extra: fmt.Sprintf(`
[pipelines.drop]
queue = "images"
output_dir = %q
inbox = %q
inbox_settle = "1s"

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
`, ih.out, ih.inbox)})
	ih.start(t)
	ih.waitInbox(t)
	return ih
}

func (ih *inboxHost) waitInbox(t *testing.T) {
	t.Helper()
	waitFor(t, 30*time.Second, "the inbox set up", func() (string, bool) {
		_, err := os.Stat(inbox.ProcessingDir(ih.inbox))
		return fmt.Sprint(err), err == nil
	})
}

// names lists the regular files of the inbox's sub ("" for the inbox).
func (ih *inboxHost) names(t *testing.T, sub string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(ih.inbox, sub))
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

// stage writes n pictures beside the inbox, for renaming in.
func (ih *inboxHost) stage(t *testing.T, prefix string, n, w, h int) (dir string, names []string) {
	t.Helper()
	dir = filepath.Join(filepath.Dir(ih.inbox), "staging")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("%s%03d.jpg", prefix, i)
		if err := os.WriteFile(filepath.Join(dir, name), imagetest.JPEG(w+i%40, h+i/40), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return dir, names
}

// jobsPerPicture reads every job of the pipeline from kilnd and returns,
// for each picture's name, the IDs of its jobs. It fails on a job that did
// not succeed, that has not the ID derived from its picture's key, or
// whose variants are missing.
func (ih *inboxHost) jobsPerPicture(t *testing.T) map[string][]string {
	t.Helper()
	jobs, err := ih.client().List(context.Background(), "images", "", 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, j := range jobs {
		var p imageapi.Payload
		if err := json.Unmarshal(j.Payload, &p); err != nil {
			t.Errorf("job %s: payload %s: %v", j.ID, j.Payload, err)
			continue
		}
		if p.Pipeline != "drop" {
			continue
		}
		key, name, ok := strings.Cut(filepath.Base(p.Input), "_")
		if !ok || filepath.Dir(p.Input) != inbox.ProcessingDir(ih.inbox) {
			t.Errorf("job %s reads %s, not a picture in .processing", j.ID, p.Input)
			continue
		}
		if want := inbox.DerivedID(inbox.UniqueKey("drop", key)); j.ID != want {
			t.Errorf("job %s of %s has not the ID derived from its key, %s", j.ID, name, want)
		}
		if j.State != worker.StateSucceeded {
			t.Errorf("job %s (%s) is %s: %s", j.ID, name, j.State, j.LastError)
		}
		for _, v := range []string{"w400.jpg", "thumb.webp"} {
			if _, err := os.Stat(filepath.Join(ih.out, j.ID, v)); err != nil {
				t.Errorf("job %s of %s: %v", j.ID, name, err)
			}
		}
		out[name] = append(out[name], j.ID)
	}
	return out
}

// checkOnce fails unless each of names, and nothing else, has one job.
func (ih *inboxHost) checkOnce(t *testing.T, names []string) {
	t.Helper()
	per := ih.jobsPerPicture(t)
	for _, name := range names {
		if ids := per[name]; len(ids) != 1 {
			t.Errorf("picture %s has %d jobs: %v", name, len(ids), ids)
		}
	}
	for name, ids := range per {
		if !slices.Contains(names, name) {
			t.Errorf("%s, which was not dropped, has the jobs %v", name, ids)
		}
	}
	t.Logf("%d jobs of pipeline drop for %d pictures", len(per), len(names))
}

// 40 pictures renamed into the inbox of a kilnd on the rabbitmq backend
// are each processed once: one succeeded job per picture, under the ID
// derived from it, its variants written and the original in done/. A file
// that is no picture lands in failed/ beside its NAME.error.txt.
func TestInboxOnRabbitMQ(t *testing.T) {
	ih := startInboxHost(t)
	const n = 40
	staging, names := ih.stage(t, "p", n, 120, 90)
	for _, name := range names {
		if err := os.Rename(filepath.Join(staging, name), filepath.Join(ih.inbox, name)); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(ih.inbox, ".notes.jpg.tmp")
	if err := os.WriteFile(tmp, []byte("a shopping list, not a picture\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(ih.inbox, "notes.jpg")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "every picture in done/", func() (string, bool) {
		d := ih.names(t, "done")
		return fmt.Sprintf("%d of %d", len(d), n), len(d) == n
	})
	waitFor(t, 30*time.Second, "notes.jpg in failed/", func() (string, bool) {
		f := ih.names(t, "failed")
		return fmt.Sprint(f), slices.Contains(f, "notes.jpg") && slices.Contains(f, "notes.jpg.error.txt")
	})
	waitFor(t, 10*time.Second, ".processing empty", func() (string, bool) {
		p := ih.names(t, ".processing")
		return fmt.Sprint(p), len(p) == 0
	})
	if d := ih.names(t, "done"); !slices.Equal(d, names) {
		t.Errorf("done/ holds %v, want %v", d, names)
	}
	reason, err := os.ReadFile(filepath.Join(ih.inbox, "failed", "notes.jpg.error.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(reason), "notes.jpg: ") || !strings.Contains(string(reason), "is not a picture kiln reads") {
		t.Errorf("notes.jpg.error.txt says %q", reason)
	}
	t.Logf("failed/notes.jpg.error.txt: %s", strings.TrimSpace(string(reason)))
	if left := ih.names(t, ""); len(left) > 0 {
		t.Errorf("the inbox still holds %v", left)
	}
	ih.checkOnce(t, names)
	out, err := ih.kilnctl("jobs", "-queue", "images", "-limit", "1000")
	if err != nil {
		t.Errorf("kilnctl jobs: %v\n%s", err, out)
	}
	if got := strings.Count(out, "inbox.drop."); got != n {
		t.Errorf("kilnctl jobs lists %d jobs of the inbox, want %d:\n%s", got, n, out)
	}
}

// kill -9 of kilnd on the rabbitmq backend in the middle of a burst of
// pictures, twice, and a restart after each: every picture is done, none
// is lost, and none ran as two jobs (a picture's job may have run again,
// under its one ID).
func TestInboxKill9MidBurstOnRabbitMQ(t *testing.T) {
	ih := startInboxHost(t)
	const n = 240
	staging, names := ih.stage(t, "k", n, 1200, 900)
	for _, name := range names {
		if err := os.Rename(filepath.Join(staging, name), filepath.Join(ih.inbox, name)); err != nil {
			t.Fatal(err)
		}
	}
	// The pictures are large enough that the burst takes seconds: each
	// kill lands while pictures are queued, running and being settled.
	// The second comes as soon as the restarted kilnd watches the inbox
	// again (at 0 pictures more), in the middle of its recovery: on this
	// backend done/ fills in steps of its 2 s lookups, and one step after
	// a restart can be the whole rest of the burst.
	for _, at := range []int{n / 5, 0} {
		waitFor(t, 2*time.Minute, fmt.Sprintf("%d pictures in done/", at), func() (string, bool) {
			d := len(ih.names(t, "done"))
			return fmt.Sprint(d), d >= at
		})
		ih.kill()
		done := len(ih.names(t, "done"))
		if done == n {
			t.Fatalf("the burst was over when kilnd was killed: the kill shows nothing")
		}
		t.Logf("killed with %d pictures in done/, %d files in .processing (pictures and tickets), %d in the inbox",
			done, len(ih.names(t, ".processing")), len(ih.names(t, "")))
		ih.start(t)
		ih.waitInbox(t)
	}
	waitFor(t, 3*time.Minute, "every picture in done/", func() (string, bool) {
		done := ih.names(t, "done")
		if len(done) == n {
			return "", true
		}
		state := fmt.Sprintf("%d of %d; failed/ %v", len(done), n, ih.names(t, "failed"))
		if len(done) >= n-5 { // a few stragglers: say where they are
			state += ih.whereMissing(t, names, done)
		}
		return state, false
	})
	waitFor(t, 30*time.Second, ".processing empty", func() (string, bool) {
		p := ih.names(t, ".processing")
		return fmt.Sprint(p), len(p) == 0
	})
	if f := ih.names(t, "failed"); len(f) > 0 {
		t.Errorf("failed/ holds %v", f)
	}
	if d := ih.names(t, "done"); !slices.Equal(d, names) {
		t.Errorf("done/ holds %d pictures, not the %d dropped", len(d), n)
	}
	ih.checkOnce(t, names)
	t.Logf("%d second messages of a job acked away", strings.Count(ih.stderr.String(), "a second message of a job that is held already"))
}

// whereMissing tells, for each picture not in done/, where each
// is, whether it has a ticket, what kilnd says of its job and the last
// lines of the log that name the job: what a failed wait needs to be read.
func (ih *inboxHost) whereMissing(t *testing.T, names, done []string) string {
	t.Helper()
	var b strings.Builder
	processing, inInbox := ih.names(t, ".processing"), ih.names(t, "")
	log := strings.Split(ih.stderr.String(), "\n")
	for _, name := range names {
		if slices.Contains(done, name) {
			continue
		}
		fmt.Fprintf(&b, "\n  %s:", name)
		if slices.Contains(inInbox, name) {
			b.WriteString(" in the inbox")
		}
		for _, f := range processing {
			key, rest, ok := strings.Cut(f, "_")
			if !ok || rest != name {
				continue
			}
			_, err := os.Stat(filepath.Join(inbox.ProcessingDir(ih.inbox), key+".job"))
			id := inbox.DerivedID(inbox.UniqueKey("drop", key))
			fmt.Fprintf(&b, " in .processing as %s (ticket: %v); job %s", f, err == nil, id)
			if j, err := ih.client().Job(context.Background(), id, 0); err != nil {
				fmt.Fprintf(&b, ": %v", err)
			} else {
				fmt.Fprintf(&b, " %s, attempts %d, updated %s", j.State, j.Attempts, j.UpdatedAt.Format(time.RFC3339Nano))
			}
			var lines []string
			for _, l := range log {
				if strings.Contains(l, id) || strings.Contains(l, name) {
					lines = append(lines, l)
				}
			}
			fmt.Fprintf(&b, "; %d log lines name it, the last:\n    %s", len(lines), strings.Join(lines[max(0, len(lines)-4):], "\n    "))
		}
	}
	return b.String()
}
