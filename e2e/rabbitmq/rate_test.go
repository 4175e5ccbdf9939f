package rabbitmq

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/api"
	"kiln/internal/rabbitnode"
	"kiln/worker"
)

// The shared rated queue: 20 starts a second for the fleet, 10 at once
// after an idle spell.
const (
	ratedQueue   = "rated"
	ratedPerSec  = 20.0
	ratedBurst   = 10
	ratedJobs    = 500
	rateSlack    = 0.10
	ratedQueueOf = `
[queues.rated]
concurrency = 4
rate = "20/s"
burst = 10
`
)

// rateFigures is what one run measured of a rate held by a fleet.
type rateFigures struct {
	overall     float64 // jobs after the burst per second, from the burst's end to the last finish
	worstExcess float64 // the most the jobs finished by some t ran over burst + rate·t, in jobs; ≤ 0 is within
	worstAt     float64 // that t, in seconds from the first finish
}

// measureRate reads finish times against the envelope burst + rate·t
// (+ slack·rate·t) of a rate with a burst, t from the first finish. The
// first finish is no earlier than the first start, so the envelope
// measured from it is, if anything, tighter than one from the first start.
func measureRate(ends []time.Time, perSec float64, burst int, slack float64) rateFigures {
	ts := slices.Clone(ends)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	f := rateFigures{worstExcess: math.Inf(-1)}
	for i, at := range ts {
		t := at.Sub(ts[0]).Seconds()
		// Every job finished at the same instant counts at once.
		n := i + 1
		for n < len(ts) && ts[n].Equal(at) {
			n++
		}
		if excess := float64(n) - (float64(burst) + perSec*t*(1+slack)); excess > f.worstExcess {
			f.worstExcess, f.worstAt = excess, t
		}
	}
	if len(ts) > burst {
		span := ts[len(ts)-1].Sub(ts[burst-1]).Seconds()
		f.overall = float64(len(ts)-burst) / span
	}
	return f
}

// Two kilnd share one queue limited to 20/s with a burst of 10: 500 noops,
// half submitted through each, all succeed, the fleet's finishes stay
// under burst + rate·t, its rate after the burst is 20/s within 10%, both
// hosts run jobs, and while the rate holds the queue back kilnctl status
// and kiln_queue_held_by_rate say so, the gauge going back to 0 once the
// queue has drained.
func TestRate_TwoHostsShareOneRate(t *testing.T) {
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	prefix := uniquePrefix(t)
	urls := []string{brokerURL(node, "")}
	tl := follow(t, []string{node.URL("")}, prefix)
	a := startHost(t, "a", pics, hostConfig{urls: urls, prefix: prefix, extra: ratedQueueOf})
	b := startHost(t, "b", pics, hostConfig{urls: urls, prefix: prefix, extra: ratedQueueOf})
	hosts := []*host{a, b}
	// The jobs come after an idle spell: both hosts consume the bucket
	// and it has filled, so that the fleet's whole burst is there.
	bucket := prefix + ".rate." + ratedQueue
	var filled amqp.Queue
	waitFor(t, time.Minute, "both hosts consuming the filled bucket "+bucket, func() (string, bool) {
		st, err := inspectQueue(node, bucket)
		if err != nil {
			return err.Error(), false
		}
		filled = st
		return fmt.Sprintf("%d consumers, %d tokens ready", st.Consumers, st.Messages), st.Consumers == 2 && st.Messages >= ratedBurst-2
	})
	t.Logf("bucket %s before the jobs: %d consumers, %d tokens ready", bucket, filled.Consumers, filled.Messages)

	ctx := context.Background()
	var ids []string
	for i, h := range []*host{a, b, a, b, a, b, a, b, a, b} {
		batch := make([]api.SubmitRequest, ratedJobs/10)
		for j := range batch {
			batch[j] = api.SubmitRequest{Type: worker.NoopType, Queue: ratedQueue}
		}
		got, err := h.client().SubmitBatch(ctx, batch)
		if err != nil {
			t.Fatalf("submit batch %d through %s: %v", i+1, h.name, err)
		}
		for _, s := range got {
			ids = append(ids, s.ID)
		}
	}

	// While the rate holds the queue back, kilnctl status on a host says
	// so and the gauge reads 1 there.
	heldSeries := fmt.Sprintf("kiln_queue_held_by_rate{queue=%q}", ratedQueue)
	var heldOn string
	waitFor(t, 20*time.Second, "kilnctl status and kiln_queue_held_by_rate show the queue held back on a host", func() (string, bool) {
		var seen []string
		for _, h := range hosts {
			st, err := h.kilnctl("status")
			if err != nil {
				t.Fatalf("kilnctl status on %s: %v\n%s", h.name, err, st)
			}
			says := strings.Contains(st, ratedQueue+" (held back by its rate)")
			gauge := h.metric(t, heldSeries)
			if says && gauge == "1" {
				heldOn = h.name
				return "", true
			}
			seen = append(seen, fmt.Sprintf("%s: status says held %v, gauge %s", h.name, says, gauge))
		}
		done, _ := tl.succeededAll(ids)
		if done == len(ids) {
			t.Fatalf("every job finished before a host showed the queue held back: %v", seen)
		}
		return strings.Join(seen, "; "), false
	})
	t.Logf("held back by its rate on %s, shown by kilnctl status and %s 1", heldOn, heldSeries)

	waitFor(t, 3*time.Minute, "every job succeeded", func() (string, bool) {
		done, all := tl.succeededAll(ids)
		return fmt.Sprintf("%d of %d", done, len(ids)), all
	})
	tl.mu.Lock()
	var ends []time.Time
	for _, id := range ids {
		if tl.dead[id] > 0 {
			t.Errorf("job %s went dead %d times; a rate never fails a job", id, tl.dead[id])
		}
		ends = append(ends, tl.finished[id])
	}
	// An event names its host by hostname/pid/nonce: the pid tells which
	// kilnd it was.
	shares := map[string]int{}
	for id, e := range tl.ends {
		name := id
		for _, h := range hosts {
			if strings.Contains(id, fmt.Sprintf("/%d/", h.pid())) {
				name = h.name
			}
		}
		shares[name] += len(e)
	}
	reruns := 0
	for _, id := range ids {
		if len(tl.runs[id]) > 1 {
			reruns++
		}
	}
	tl.mu.Unlock()
	for _, h := range hosts {
		st, err := h.client().Status(ctx)
		if err != nil {
			t.Fatalf("status of %s: %v", h.name, err)
		}
		if q := st.Queues[ratedQueue]; q == nil || q.Counts["dead"] != 0 || q.Counts["retrying"] != 0 {
			t.Errorf("status of %s: queue %s %+v, want none dead or retrying", h.name, ratedQueue, q)
		}
		if st.Failed != 0 {
			t.Errorf("status of %s: %d failed attempts, want none: a rate holds jobs back, never fails one", h.name, st.Failed)
		}
	}

	f := measureRate(ends, ratedPerSec, ratedBurst, rateSlack)
	t.Logf("the first finishes, seconds after the first: %s", firstOffsets(ends, 2*ratedBurst))
	t.Logf("RATE FIGURES: %d noops at rate 20/s burst %d on two kilnd: overall rate after the burst %.2f/s (want 20 ± 10%%); "+
		"jobs per host a=%d b=%d (%.0f%% / %.0f%%); worst excess over burst + rate·t (+10%%) %.2f jobs at t=%.3fs (≤ 0 is within); reruns %d",
		len(ends), ratedBurst, f.overall, shares["a"], shares["b"],
		100*float64(shares["a"])/float64(len(ends)), 100*float64(shares["b"])/float64(len(ends)), f.worstExcess, f.worstAt, reruns)
	if f.worstExcess > 0 {
		t.Errorf("%.2f jobs over burst %d + 20/s·t (+10%%) at t=%.3fs", f.worstExcess, ratedBurst, f.worstAt)
	}
	if math.Abs(f.overall-ratedPerSec) > rateSlack*ratedPerSec {
		t.Errorf("overall rate after the burst %.2f/s, want 20/s within 10%%", f.overall)
	}
	if shares["a"] == 0 || shares["b"] == 0 {
		t.Errorf("jobs per host %v: want both to run some", shares)
	}

	waitFor(t, 30*time.Second, heldSeries+" 0 on both hosts once the queue drained", func() (string, bool) {
		var seen []string
		for _, h := range hosts {
			if g := h.metric(t, heldSeries); g != "0" {
				seen = append(seen, h.name+": "+g)
			}
		}
		return strings.Join(seen, ", "), len(seen) == 0
	})
}

// inspectQueue is the broker's count of a queue's ready messages and
// consumers, on a connection of its own: a queue not yet declared closes
// the channel that asks.
func inspectQueue(node *rabbitnode.Node, name string) (amqp.Queue, error) {
	conn, err := amqp.Dial(node.URL(""))
	if err != nil {
		return amqp.Queue{}, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return amqp.Queue{}, err
	}
	return ch.QueueDeclarePassive(name, true, false, false, false, nil)
}

// firstOffsets is the first n of times, in order, as seconds after the
// first: how the burst went, should the envelope fail.
func firstOffsets(times []time.Time, n int) string {
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	var parts []string
	for _, at := range ts[:min(n, len(ts))] {
		parts = append(parts, fmt.Sprintf("%.3f", at.Sub(ts[0]).Seconds()))
	}
	return strings.Join(parts, " ")
}
