package rabbitmq

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kiln/internal/rabbitnode"
)

// Two kilnd on one broker share the work: every job runs exactly once,
// with one set of outputs, both hosts run jobs, and either host shows any
// job.
func TestTwoHostsShareOneQueue(t *testing.T) {
	node, pics, prefix, a, b := twoHostsOnOneNode(t)
	tl := follow(t, []string{node.URL("")}, prefix)

	ids := submitThroughBoth(t, tl, pics, a, b, 2000)

	byHost := map[string]int{}
	tl.mu.Lock()
	for _, id := range ids {
		runs := tl.runs[id]
		if len(runs) != 1 || tl.succeeded[id] != 1 {
			t.Errorf("job %s ran %d times on %v and succeeded %d times, want once", id, len(runs), runs, tl.succeeded[id])
			continue
		}
		byHost[runs[0]]++
	}
	tl.mu.Unlock()
	if len(byHost) != 2 {
		t.Errorf("jobs ran on %d hosts, want both: %v", len(byHost), byHost)
	}
	t.Logf("jobs per kilnd: %v", byHost)
	for _, id := range ids {
		if where := outputsOf(id, a, b); len(where) != 1 {
			t.Errorf("job %s has outputs on %v, want exactly one host", id, where)
		}
	}
	// Each host knows every job, whichever ran it.
	ctx := context.Background()
	for _, h := range []*host{a, b} {
		waitFor(t, time.Minute, "records of "+h.name+" caught up", func() (string, bool) {
			for _, id := range ids {
				j, err := h.client().Job(ctx, id, 0)
				if err != nil || j.State != "succeeded" {
					return fmt.Sprintf("job %s: %v %v", id, j, err), false
				}
			}
			return "", true
		})
	}
	out, err := b.kilnctl("job", ids[0])
	if err != nil || !strings.Contains(out, "succeeded") || !strings.Contains(out, "small") {
		t.Errorf("kilnctl job %s on b: %v\n%s", ids[0], err, out)
	}
	st, err := a.kilnctl("status")
	if err != nil || !strings.Contains(st, "broker connected") || !strings.Contains(st, "broker ready") {
		t.Errorf("kilnctl status on a: %v\n%s", err, st)
	}
}

// A host with keep_records = false runs its share and answers for every
// job, its own and the other host's, by asking the host that keeps the
// records: kilnctl job, status and submit -wait on it are right.
func TestHostWithoutRecords(t *testing.T) {
	urls, prefix, pics, a, b := keeperAndLightHost(t)
	tl := follow(t, urls, prefix)

	const n = 400
	ids := submitThroughBoth(t, tl, pics, a, b, n)
	byHost := tl.firstRuns(ids)
	if len(byHost) != 2 {
		t.Errorf("jobs ran on %d hosts, want both: %v", len(byHost), byHost)
	}
	ctx := context.Background()
	waitFor(t, time.Minute, "the records caught up", func() (string, bool) {
		for _, id := range ids {
			j, err := b.client().Job(ctx, id, 0)
			if err != nil || j.State != "succeeded" {
				return fmt.Sprintf("job %s on b: %v %v", id, j, err), false
			}
		}
		return "", true
	})
	st, err := b.kilnctl("status")
	if err != nil || !strings.Contains(st, fmt.Sprint(n)) {
		t.Errorf("kilnctl status on b does not count %d jobs: %v\n%s", n, err, st)
	}
	out, err := b.kilnctl("submit", "-wait", "-pipeline", "web", filepath.Join(pics, "p.jpg"))
	if err != nil || !strings.Contains(out, "small") {
		t.Errorf("kilnctl submit -wait on b: %v\n%s", err, out)
	}
	if logs := b.stderr.String(); !strings.Contains(logs, "keeps no job records") {
		t.Errorf("b's log does not say it keeps no records:\n%s", tail(logs, 20))
	}
	t.Logf("jobs per kilnd: %v; status on b:\n%s", byHost, st)

	// The bad day: kill -9 of the only host that keeps records. b takes
	// and runs jobs on; its lookups answer 503 with the reason; once a is
	// back, it has the records of the jobs b ran meanwhile, and b answers
	// for them again.
	a.kill()
	alone := submitImages(t, b, pics, 20)
	waitFor(t, 2*time.Minute, "the jobs submitted to b alone succeeded", func() (string, bool) {
		done, all := tl.succeededAll(alone)
		return fmt.Sprintf("%d of %d", done, len(alone)), all
	})
	if _, err := b.client().Job(ctx, alone[0], 0); err == nil || !strings.Contains(err.Error(), "keeps the job records") {
		t.Errorf("kilnctl job on b with no host that keeps records: %v, want a 503 that says why", err)
	} else {
		t.Logf("b alone: %v", err)
	}
	a.start(t)
	waitFor(t, time.Minute, "b answers again once a is back", func() (string, bool) {
		for _, id := range append(alone, ids[0]) {
			j, err := b.client().Job(ctx, id, 0)
			if err != nil || j.State != "succeeded" {
				return fmt.Sprintf("job %s on b: %v %v", id, j, err), false
			}
		}
		return "", true
	})
}

// submitThroughBoth submits n pictures, half through a and half through
// b, and waits until the tally has seen every one succeed.
func submitThroughBoth(t *testing.T, tl *tally, pics string, a, b *host, n int) []string {
	t.Helper()
	ids := append(submitImages(t, a, pics, n/2), submitImages(t, b, pics, n/2)...)
	waitFor(t, 5*time.Minute, "every job succeeded", func() (string, bool) {
		done, all := tl.succeededAll(ids)
		return fmt.Sprintf("%d of %d", done, n), all
	})
	return ids
}

// A host that keeps no records stops at once on SIGTERM while no host that
// keeps them is up. Its status refresh asks such a host for the counts and
// waits each question out; the main loop, which takes the signals, must
// not wait behind it.
func TestHostWithoutRecords_StopsWhileNoKeeperAnswers(t *testing.T) {
	_, _, _, a, b := keeperAndLightHost(t)
	a.kill()
	// Once one refresh has said the counts are unavailable, the next is
	// due within a tick, and would again wait out its question.
	status := waitStatus(t, b, "status unavailable", 2*time.Minute)
	t.Logf("b's status with no keeper up: %s", status)
	start := time.Now()
	b.proc.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.proc.Exited:
	case <-time.After(time.Minute):
		t.Fatalf("kilnd b did not stop within a minute of SIGTERM; log:\n%s", tail(b.stderr.String(), 20))
	}
	took := time.Since(start)
	if took > 5*time.Second {
		t.Errorf("kilnd b took %s to stop after SIGTERM with no keeper up, want under 5s; log:\n%s", took.Round(time.Millisecond), tail(b.stderr.String(), 20))
	}
	t.Logf("kilnd b stopped %s after SIGTERM", took.Round(time.Millisecond))
}

// waitStatus waits until h's last STATUS= to systemd holds text, and
// returns it.
func waitStatus(t *testing.T, h *host, text string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		// Reads what h sends for a second; no notice is that line.
		h.proc.Notify.WaitFor("\x00", time.Second)
		if s := h.proc.Notify.Status(); strings.Contains(s, text) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("kilnd %s's status never held %q within %s (last %q)", h.name, text, within, h.proc.Notify.Status())
		}
	}
}

// keeperAndLightHost starts a broker and two kilnd on it: a keeps the job
// records, b keeps none (keep_records = false).
func keeperAndLightHost(t *testing.T) (urls []string, prefix, pics string, a, b *host) {
	node := rabbitnode.StartT(t)
	pics = picDir(t)
	prefix = uniquePrefix(t)
	urls = []string{brokerURL(node, "")}
	a = startHost(t, "a", pics, hostConfig{urls: urls, prefix: prefix})
	b = startHost(t, "b", pics, hostConfig{urls: urls, prefix: prefix, extra: "keep_records = false\n"})
	return urls, prefix, pics, a, b
}
