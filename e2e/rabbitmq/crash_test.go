package rabbitmq

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"kiln/internal/rabbitnode"
)

// kill -9 of one kilnd under load: the jobs it held go to the other and
// complete; a job runs twice only when the kill cut its first run short.
func TestKillOneKilndUnderLoad(t *testing.T) {
	node, pics, prefix, a, b := twoHostsOnOneNode(t)
	tl := follow(t, []string{node.URL("")}, prefix)

	const n = 1000
	ids := append(submitImages(t, a, pics, n/2), submitImages(t, b, pics, n/2)...)
	waitFor(t, 5*time.Minute, "a fifth of the jobs done", func() (string, bool) {
		return fmt.Sprint(tl.successes()), tl.successes() >= n/5
	})
	killedID := fmt.Sprintf("/%d/", a.pid())
	a.kill()
	waitFor(t, 5*time.Minute, "every job succeeded after the kill", func() (string, bool) {
		done, all := tl.succeededAll(ids)
		return fmt.Sprintf("%d of %d", done, n), all
	})

	reruns := 0
	tl.mu.Lock()
	for _, id := range ids {
		runs := tl.runs[id]
		if len(runs) > 1 {
			reruns++
			// Every run but the last must have been on the killed kilnd,
			// cut short by the kill.
			for _, h := range runs[:len(runs)-1] {
				if !strings.Contains(h, killedID) {
					t.Errorf("job %s ran %d times (%v): a run on %s was not cut short by the kill", id, len(runs), runs, h)
				}
			}
		}
		if tl.succeeded[id] != 1 {
			t.Errorf("job %s succeeded %d times", id, tl.succeeded[id])
		}
	}
	tl.mu.Unlock()
	t.Logf("kill -9 of one kilnd under load: %d jobs, %d ran twice (cut short by the kill)", n, reruns)
	if !b.alive() {
		t.Error("the other kilnd died")
	}
}

// kill -9 of the broker under load, then a restart: no confirmed job is
// lost, both kilnd reconnect on their own, and submits during the outage
// are refused at once with a clear error.
func TestKillBrokerUnderLoad(t *testing.T) {
	node, pics, prefix, a, b := twoHostsOnOneNode(t)
	pids := []int{a.pid(), b.pid()}
	tl := follow(t, []string{node.URL("")}, prefix)

	prod := startProducers(t, pics, a, b)
	waitFor(t, 3*time.Minute, "300 jobs done", func() (string, bool) {
		return fmt.Sprint(tl.successes()), tl.successes() >= 300
	})
	node.Kill()
	killedAt := prod.count()
	waitFor(t, time.Minute, "submits refused while the broker is down", func() (string, bool) {
		n, msg := prod.refusals()
		return msg, n > 0
	})
	waitFor(t, time.Minute, "status says the broker is unreachable", func() (string, bool) {
		out, _ := a.kilnctl("status")
		return out, strings.Contains(out, "broker unreachable")
	})
	if m := a.metric(t, "kiln_broker_connected"); m != "0" {
		t.Errorf("kiln_broker_connected = %q while the broker is down, want 0", m)
	}
	if err := node.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Minute, "submits taken again after the restart", func() (string, bool) {
		return fmt.Sprint(prod.count()), prod.count() >= killedAt+200
	})
	accepted := prod.stopped()
	waitFor(t, time.Minute, "kiln_broker_connected 1 on both hosts after the broker came back", func() (string, bool) {
		ma, mb := a.metric(t, "kiln_broker_connected"), b.metric(t, "kiln_broker_connected")
		return ma + " " + mb, ma == "1" && mb == "1"
	})

	waitFor(t, 5*time.Minute, "every confirmed job succeeded", func() (string, bool) {
		done, all := tl.succeededAll(accepted)
		if all {
			return "", true
		}
		return fmt.Sprintf("%d of %d; not seen succeeded in the stream: %s", done, len(accepted), tl.describeMissing(accepted, 3, a, b)), false
	})
	for i, h := range []*host{a, b} {
		if !h.alive() || h.pid() != pids[i] {
			t.Errorf("kilnd %s did not ride out the broker's restart", h.name)
		}
	}
	reruns := tl.reruns(accepted)
	refused, refusedMsg := prod.refusals()
	if !strings.Contains(refusedMsg, "unavailable") {
		t.Errorf("a submit during the outage was refused with %q, want it to say the backend is unavailable", refusedMsg)
	}
	if prod.slowest > 5*time.Second {
		t.Errorf("a refused submit took %s; submits must be refused at once", prod.slowest)
	}
	t.Logf("kill -9 of the broker: %d jobs confirmed, 0 lost, %d ran twice; %d submits refused during the outage (slowest refusal %s): %s",
		len(accepted), reruns, refused, prod.slowest.Round(time.Millisecond), refusedMsg)
}

// A three-node cluster loses the node that leads the job queue under
// load: no confirmed job is lost, and consumers fail over.
func TestClusterLeaderKilled(t *testing.T) {
	nodes := rabbitnode.ClusterT(t, 3)
	pics := picDir(t)
	prefix := uniquePrefix(t)
	var urls, plain []string
	for _, n := range nodes {
		urls, plain = append(urls, brokerURL(n, "")), append(plain, n.URL(""))
	}
	// Each host connects to a different node first.
	a := startHost(t, "a", pics, hostConfig{urls: urls, prefix: prefix})
	b := startHost(t, "b", pics, hostConfig{urls: []string{urls[1], urls[2], urls[0]}, prefix: prefix})
	tl := follow(t, []string{plain[2], plain[1], plain[0]}, prefix)
	// The hosts declared the queue when they started: its leader is known
	// before the load, so that the kill comes while jobs flow.
	leader := queueLeader(t, nodes, prefix+".q.images")
	members, err := nodes[0].Queues("quorum_status", prefix+".q.images")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("quorum members before the kill:\n%s", members)

	prod := startProducers(t, pics, a, b)
	waitFor(t, 3*time.Minute, "300 jobs done", func() (string, bool) {
		return fmt.Sprint(tl.successes()), tl.successes() >= 300
	})
	before := prod.count()
	killedAt := time.Now()
	leader.Kill()
	waitFor(t, 3*time.Minute, "300 more jobs confirmed after the kill", func() (string, bool) {
		return fmt.Sprint(prod.count() - before), prod.count() >= before+300
	})
	accepted := prod.stopped()
	firstAfter := func() time.Time {
		var first time.Time
		tl.mu.Lock()
		defer tl.mu.Unlock()
		for _, id := range accepted {
			if f := tl.finished[id]; f.After(killedAt) && (first.IsZero() || f.Before(first)) {
				first = f
			}
		}
		return first
	}
	waitFor(t, 3*time.Minute, "every confirmed job succeeded after the leader was killed", func() (string, bool) {
		done, all := tl.succeededAll(accepted)
		if all {
			return "", true
		}
		return fmt.Sprintf("%d of %d; hosts: %s; not seen succeeded in the stream: %s", done, len(accepted), succeededOn(accepted, a, b), tl.describeMissing(accepted, 3, a, b)), false
	})
	for _, id := range accepted {
		if len(outputsOf(id, a, b)) == 0 {
			t.Errorf("job %s was confirmed and has no outputs on either host", id)
		}
	}
	// Each host's first success after the kill: the one whose node died
	// reconnects, the other waits out the channels that published to the
	// dead leader.
	var resumed []string
	tl.mu.Lock()
	for host, ends := range tl.ends {
		var first time.Time
		for _, f := range ends {
			if f.After(killedAt) && (first.IsZero() || f.Before(first)) {
				first = f
			}
		}
		resumed = append(resumed, fmt.Sprintf("%s after %s", host, first.Sub(killedAt).Round(time.Millisecond)))
	}
	tl.mu.Unlock()
	refused, _ := prod.refusals()
	t.Logf("three-node cluster: leader %s of %s.q.images killed under load; jobs completed again %s later; each host completed jobs again: %s; %d jobs confirmed, 0 lost, %d ran twice, %d submits refused during the failover",
		leader.Name, prefix, firstAfter().Sub(killedAt).Round(time.Millisecond), strings.Join(resumed, ", "),
		len(accepted), tl.reruns(accepted), refused)
	if !a.alive() || !b.alive() {
		t.Error("a kilnd died")
	}
}

// succeededOn says how many of ids each host's records show succeeded,
// for the message of a failed wait.
func succeededOn(ids []string, hosts ...*host) string {
	var parts []string
	for _, h := range hosts {
		jobs, err := h.client().List(context.Background(), "images", "succeeded", 100000)
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", h.name, err))
			continue
		}
		done := map[string]bool{}
		for _, j := range jobs {
			done[j.ID] = true
		}
		n := 0
		for _, id := range ids {
			if done[id] {
				n++
			}
		}
		parts = append(parts, fmt.Sprintf("%s %d", h.name, n))
	}
	return strings.Join(parts, ", ")
}

// queueLeader is the node that leads a quorum queue.
func queueLeader(t *testing.T, nodes []*rabbitnode.Node, queue string) *rabbitnode.Node {
	t.Helper()
	out, err := nodes[0].Ctl("list_queues", "name", "leader", "--no-table-headers", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == queue {
			for _, n := range nodes {
				if n.Name == f[1] {
					return n
				}
			}
		}
	}
	t.Fatalf("no leader for %s in:\n%s", queue, out)
	return nil
}
