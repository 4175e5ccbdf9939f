package inbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kiln/worker"
	"kiln/worker/image"
	"kiln/worker/image/imagetest"
	"kiln/worker/inbox"
)

// writeSlowly writes files into the inbox chunk by chunk, open at a time,
// a chunk to each in turn. Halfway through each round, with every file of
// the round open and half written, it drops a whole picture and waits for
// it in done/: the inbox has seen the half-written files' writes by then,
// and must have left every one of them where it is.
func writeSlowly(t *testing.T, h *harness, files map[string][]byte, open, chunk int) (sentinels []string) {
	t.Helper()
	names := slices.Sorted(maps.Keys(files))
	type writing struct {
		name string
		f    *os.File
		left []byte
	}
	writeChunks := func(busy []*writing, until func(w *writing) int) {
		for more := true; more; {
			more = false
			for _, w := range busy {
				if n := min(chunk, len(w.left)-until(w)); n > 0 {
					if _, err := w.f.Write(w.left[:n]); err != nil {
						t.Fatal(err)
					}
					w.left = w.left[n:]
					more = true
				}
			}
		}
	}
	for round := 0; len(names) > 0; round++ {
		var busy []*writing
		for len(busy) < open && len(names) > 0 {
			f, err := os.Create(filepath.Join(h.inbox, names[0]))
			if err != nil {
				t.Fatal(err)
			}
			data := files[names[0]]
			busy = append(busy, &writing{names[0], f, data})
			names = names[1:]
		}
		half := map[*writing]int{}
		for _, w := range busy {
			half[w] = len(w.left) / 2
		}
		writeChunks(busy, func(w *writing) int { return half[w] })

		sentinel := fmt.Sprintf("sentinel%02d.jpg", round)
		sentinels = append(sentinels, sentinel)
		if err := os.WriteFile(filepath.Join(h.inbox, sentinel), imagetest.JPEG(33, 20+round), 0o644); err != nil {
			t.Fatal(err)
		}
		h.waitFor(sentinel+" in done/", 30*time.Second, func() bool { return slices.Contains(h.names("done"), sentinel) })
		inInbox := h.names("")
		for _, w := range busy {
			if !slices.Contains(inInbox, w.name) {
				t.Fatalf("%s was taken while half written", w.name)
			}
		}

		writeChunks(busy, func(*writing) int { return 0 })
		for _, w := range busy {
			if err := w.f.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return sentinels
}

// 500 pictures copied in chunk by chunk while the inbox runs: none is
// taken while half written, and each, once whole, has one job and lands
// in done/ byte for byte, with its variant written.
func TestEachPictureCopiedInSlowlyIsProcessedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	const n = 500
	files := map[string][]byte{}
	for i := range n {
		// Pictures of different sizes, so that no two share bytes.
		files[fmt.Sprintf("p%03d.jpg", i)] = imagetest.JPEG(40+i%13, 30+i/13)
	}
	sentinels := writeSlowly(t, h, files, 50, 256)
	total := n + len(sentinels)
	h.waitFor("every picture in done/", 2*time.Minute, func() bool { return h.count("done") == total })

	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(h.inbox, "done", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("done/%s differs from what was dropped (%d bytes, %d dropped)", name, len(got), len(data))
		}
	}
	if f := h.names("failed"); len(f) > 0 {
		t.Errorf("failed/ holds %v", f)
	}
	h.waitFor("no ticket left", 10*time.Second, func() bool { return h.count(".processing") == 0 })
	byKey := h.jobsByKey()
	if len(byKey) != total {
		t.Errorf("%d unique keys for %d pictures", len(byKey), total)
	}
	for key, c := range byKey {
		if c != 1 {
			t.Errorf("key %s has %d jobs", key, c)
		}
	}
	jobs, err := h.store.List(context.Background(), "", worker.StateSucceeded, total+1)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != total {
		t.Fatalf("%d jobs succeeded, want %d", len(jobs), total)
	}
	for _, j := range jobs {
		if _, err := os.Stat(filepath.Join(h.out, j.ID, "small.jpg")); err != nil {
			t.Errorf("job %s: %v", j.ID, err)
		}
	}
}

// A picture written under a temporary name and renamed in is taken; a
// .part file and a dot-file are left alone; a file that is no picture
// lands in failed/ with its reason, which names it.
func TestRenamedInTakenGarbageFailedPartLeftAlone(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	pic := imagetest.JPEG(64, 48)
	for name, data := range map[string][]byte{"upload.jpg.part": pic, ".hidden.jpg": pic, "editing.jpg.swp": pic, "backup.jpg~": pic} {
		if err := os.WriteFile(filepath.Join(h.inbox, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(h.inbox, ".renamed.jpg.tmp")
	if err := os.WriteFile(tmp, pic, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.inbox, "renamed.jpg")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.inbox, "notes.jpg"), []byte("these are my notes, not a picture\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitFor("renamed.jpg in done/", 30*time.Second, func() bool { return slices.Contains(h.names("done"), "renamed.jpg") })
	h.waitFor("notes.jpg in failed/", 30*time.Second, func() bool { return slices.Contains(h.names("failed"), "notes.jpg") })
	reason, err := os.ReadFile(filepath.Join(h.inbox, "failed", "notes.jpg.error.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(reason), "notes.jpg: ") || !strings.Contains(string(reason), "payload.input") {
		t.Errorf("notes.jpg.error.txt says %q", reason)
	}
	// Events come in order: the files left alone were seen before these.
	left := h.names("")
	slices.Sort(left)
	if want := []string{".hidden.jpg", "backup.jpg~", "editing.jpg.swp", "upload.jpg.part"}; !slices.Equal(left, want) {
		t.Errorf("the inbox holds %v, want %v", left, want)
	}
	if keys := h.jobsByKey(); len(keys) != 1 {
		t.Errorf("jobs %v: want the one of renamed.jpg (notes.jpg is refused at submit)", keys)
	}
}

// Pictures dropped while the inbox is stopped are taken when it starts,
// once old enough; without inbox_keep a picture is deleted once done.
func TestPicturesDroppedWhileStoppedAreTakenAtStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.cfg.Keep = false
	h.start()
	h.stop()
	const n = 20
	for i := range n {
		if err := os.WriteFile(filepath.Join(h.inbox, fmt.Sprintf("d%02d.jpg", i)), imagetest.JPEG(40, 30+i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	h.waitFor("20 jobs succeeded", 60*time.Second, func() bool {
		jobs, _ := h.store.List(context.Background(), "", worker.StateSucceeded, n+1)
		return len(jobs) == n
	})
	h.waitFor("the inbox and .processing empty", 10*time.Second, func() bool {
		return h.count("") == 0 && h.count(".processing") == 0
	})
	if d := h.names("done"); len(d) > 0 {
		t.Errorf("done/ holds %v without inbox_keep", d)
	}
}

// Without an event log, the tickets' jobs are looked up instead.
func TestWithoutEventLogTicketsAreLookedUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.events = false
	h.start()
	for i := range 5 {
		if err := os.WriteFile(filepath.Join(h.inbox, fmt.Sprintf("n%d.jpg", i)), imagetest.JPEG(40, 30+i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(h.inbox, "bad.jpg"), []byte("GIF89a but not really"), 0o644)
	h.waitFor("5 pictures in done/ and bad.jpg in failed/", 30*time.Second, func() bool {
		return h.count("done") == 5 && slices.Contains(h.names("failed"), "bad.jpg")
	})
}

// What a crash can leave in .processing is taken up at start: a picture
// whose job was never stored, one whose job is queued (no second job), one
// whose job succeeded or died while kilnd was down (settled by its ticket,
// no new job), a ticket without its picture and a ticket write cut short.
func TestStartTakesUpWhatACrashLeft(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pdir := inbox.ProcessingDir(h.inbox)
	key := func(i int) string { return fmt.Sprintf("%020x", i) }
	place := func(i int, name string, data []byte) string {
		path := filepath.Join(pdir, key(i)+"_"+name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ctx := context.Background()
	submitRaw := func(i int, input string) string {
		payload, _ := json.Marshal(image.Payload{Pipeline: "web", Input: input})
		j := &worker.JobRecord{Type: image.JobType, Queue: queueName, Payload: payload, UniqueKey: inbox.UniqueKey("web", key(i)), MaxAttempts: 1}
		if _, err := h.store.Submit(ctx, j); err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	// 1: claimed, never submitted.
	place(1, "never.jpg", imagetest.JPEG(40, 30))
	// 3 and 4 run to their end before the inbox starts: 3 succeeds, 4 is
	// no picture (stored past the submit checks) and dies.
	succeededID := submitRaw(3, place(3, "succeeded.jpg", imagetest.JPEG(42, 30)))
	deadID := submitRaw(4, place(4, "dead.jpg", []byte("not a picture at all")))
	pctx, stopPool := context.WithCancel(ctx)
	h.startPool(pctx)
	h.waitFor("jobs 3 and 4 ended", 30*time.Second, func() bool {
		a, _ := h.store.Get(ctx, succeededID)
		b, _ := h.store.Get(ctx, deadID)
		return a != nil && b != nil && a.State.Terminal() && b.State.Terminal()
	})
	stopPool()
	h.done.Wait()
	// 2: claimed and submitted, not run yet.
	queuedID := submitRaw(2, place(2, "queued.jpg", imagetest.JPEG(41, 30)))
	os.WriteFile(filepath.Join(pdir, key(6)+".job"), []byte("01ORPHAN\n"), 0o640)
	os.WriteFile(filepath.Join(pdir, "."+key(7)+".job.tmp123"), []byte("01HALF"), 0o640)
	for _, k := range []int{3, 4} {
		if _, err := os.Stat(filepath.Join(pdir, key(k)+".job")); err != nil {
			t.Fatalf("job %d ran without a ticket: %v", k, err)
		}
	}

	h.start()
	h.waitFor("never.jpg, queued.jpg and succeeded.jpg in done/, dead.jpg in failed/", 30*time.Second, func() bool {
		return h.count("done") == 3 && slices.Contains(h.names("failed"), "dead.jpg")
	})
	h.waitFor(".processing empty", 10*time.Second, func() bool { return h.count(".processing") == 0 })
	byKey := h.jobsByKey()
	for _, k := range []int{1, 2, 3, 4} {
		if c := byKey[inbox.UniqueKey("web", key(k))]; c != 1 {
			t.Errorf("picture %d has %d jobs, want 1", k, c)
		}
	}
	if j, _ := h.store.Get(ctx, queuedID); j.State != worker.StateSucceeded {
		t.Errorf("the queued job is %s", j.State)
	}
	reason, err := os.ReadFile(filepath.Join(h.inbox, "failed", "dead.jpg.error.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(reason), deadID) || !strings.Contains(string(reason), "dead") {
		t.Errorf("dead.jpg.error.txt says %q", reason)
	}
}

// A picture whose name is taken in done/ keeps both: the second gets part
// of its key in its name.
func TestSameNameTwiceKeepsBoth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	drop := func(data []byte) {
		tmp := filepath.Join(h.inbox, ".same.tmp")
		os.WriteFile(tmp, data, 0o644)
		if err := os.Rename(tmp, filepath.Join(h.inbox, "same.jpg")); err != nil {
			t.Fatal(err)
		}
	}
	drop(imagetest.JPEG(40, 30))
	h.waitFor("same.jpg in done/", 30*time.Second, func() bool { return h.count("done") == 1 })
	drop(imagetest.JPEG(50, 30))
	h.waitFor("two pictures in done/", 30*time.Second, func() bool { return h.count("done") == 2 })
	names := h.names("done")
	if names[0] != "same.jpg" && names[1] != "same.jpg" {
		t.Errorf("done/ holds %v", names)
	}
	for _, n := range names {
		if n != "same.jpg" && !(strings.HasPrefix(n, "same.") && strings.HasSuffix(n, ".jpg") && len(n) == len("same.12345678.jpg")) {
			t.Errorf("the second same.jpg is %q in done/", n)
		}
	}
}
