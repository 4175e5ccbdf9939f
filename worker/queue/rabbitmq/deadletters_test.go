package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/e2e/instance"
	"kiln/internal/rabbitnode"
	"kiln/worker"
)

// deadDepth is how many messages the dead-letter queue of kiln queue "q"
// holds.
func deadDepth(t *testing.T, q *Queue) int {
	t.Helper()
	st, err := brokerChannel(t, false).QueueDeclarePassive(q.names.dead("q"), true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st.Messages
}

// killJob submits a job to "q" and fails it for good.
func killJob(t *testing.T, q *Queue) *worker.JobRecord {
	t.Helper()
	ctx := context.Background()
	j := &worker.JobRecord{Queue: "q", Type: "test", Payload: json.RawMessage(`{"n":1}`), MaxAttempts: 3}
	if _, err := q.Submit(ctx, j); err != nil {
		t.Fatal(err)
	}
	leaseAndFail(t, q, j.ID)
	return j
}

func leaseAndFail(t *testing.T, q *Queue, id string) {
	t.Helper()
	ctx := context.Background()
	got, _, err := q.Lease(ctx, "q", 1, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != id {
		t.Fatalf("lease: %v %v, want %s", jobIDs(got), err, id)
	}
	if err := q.Fail(ctx, id, "broken for good", time.Time{}); err != nil {
		t.Fatal(err)
	}
}

// A dead job's message waits in the dead-letter queue; retry and purge
// take it out, so that the queue holds the dead jobs and nothing else.
func TestDeadLetters_RetryAndPurgeDrainTheQueue(t *testing.T) {
	needNode(t)
	t.Parallel()
	ctx := context.Background()
	q := openQueue(t, node.URL(""), randomPrefix(), nil)

	j := killJob(t, q)
	if n := deadDepth(t, q); n != 1 {
		t.Fatalf("dead-letter queue holds %d messages after a job died, want 1", n)
	}
	if _, err := q.Retry(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if n := deadDepth(t, q); n != 0 {
		t.Fatalf("dead-letter queue holds %d messages after the retry, want 0", n)
	}
	leaseAndFail(t, q, j.ID)
	if n := deadDepth(t, q); n != 1 {
		t.Fatalf("dead-letter queue holds %d messages after the second death, want 1", n)
	}
	if n, err := q.Purge(ctx, "q", worker.StateDead, 0); err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if n := deadDepth(t, q); n != 0 {
		t.Fatalf("dead-letter queue holds %d messages after the purge, want 0", n)
	}
	if _, err := q.Get(ctx, j.ID); !errors.Is(err, worker.ErrNotFound) {
		t.Fatalf("purged job: %v", err)
	}
}

// A job the broker dead-lettered itself (its delivery limit) shows as dead
// with the broker's reason, and retry brings it back.
func TestDeadLetters_BrokerDeadLetteredJobIsRecorded(t *testing.T) {
	needNode(t)
	t.Parallel()
	ctx := context.Background()
	q := openQueue(t, node.URL(""), randomPrefix(), nil)
	id := newID(now())
	publishDeadLetter(t, q, id)

	dead, err := q.List(ctx, "q", worker.StateDead, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != id || !strings.Contains(dead[0].LastError, "delivery_limit") {
		t.Fatalf("dead jobs %+v, want %s dead-lettered by the broker for its delivery limit", dead, id)
	}
	if _, err := q.Retry(ctx, id); err != nil {
		t.Fatal(err)
	}
	got, _, err := q.Lease(ctx, "q", 1, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != id {
		t.Fatalf("lease after retry: %v %v", jobIDs(got), err)
	}
	if n := deadDepth(t, q); n != 0 {
		t.Fatalf("dead-letter queue holds %d messages after the retry, want 0", n)
	}
}

// A host that sweeps a dead-letter copy of a job another host purged
// drops it rather than take it for a job the broker dead-lettered.
func TestDeadLetters_PurgedJobStaysPurgedOnEveryHost(t *testing.T) {
	needNode(t)
	t.Parallel()
	ctx := context.Background()
	a, b := twoHosts(t)

	j := killJob(t, a)
	if _, err := a.Purge(ctx, "q", worker.StateDead, 0); err != nil {
		t.Fatal(err)
	}
	waitGone(t, b, j.ID)
	// The copy a host held unacked while the purge swept the queue.
	publishDeadLetter(t, a, j.ID)
	res, err := b.SweepDeadLetters("q")
	if err != nil {
		t.Fatal(err)
	}
	if res.Dropped != 1 || res.Recorded != 0 {
		t.Fatalf("sweep on the other host: %+v, want the purged job's copy dropped", res)
	}
	if _, err := b.Get(ctx, j.ID); !errors.Is(err, worker.ErrNotFound) {
		t.Fatalf("purged job on the other host: %v", err)
	}
	if n := deadDepth(t, a); n != 0 {
		t.Fatalf("dead-letter queue holds %d messages, want 0", n)
	}
}

// waitGone waits until q has read that job id was purged.
func waitGone(t *testing.T, q *Queue, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := q.Get(context.Background(), id)
		if errors.Is(err, worker.ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still known 30s after its purge: %v", id, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the records for the purge event
	}
}

// publishDeadLetter puts a job message into the dead-letter queue of "q"
// as the broker does when a message reaches its delivery limit.
func publishDeadLetter(t *testing.T, q *Queue, id string) {
	t.Helper()
	body := `{"id":"` + id + `","type":"test","queue":"q","payload":{"n":2},"max_attempts":3}`
	publishConfirmed(t, q.names.deadExchange(), "q", amqp.Publishing{
		DeliveryMode: amqp.Persistent, ContentType: "application/json", MessageId: id, Body: []byte(body),
		Headers: amqp.Table{hdrGen: int64(1), hdrCopy: int64(1), hdrAttempts: int64(0), hdrDeliveryCount: int64(3),
			"x-first-death-reason": "delivery_limit", "x-first-death-queue": q.names.work("q")},
	})
}

// brokerChannel is a channel of a connection of the test's own to the
// test broker, in confirm mode if asked, closed when the test ends.
func brokerChannel(t *testing.T, confirm bool) *amqp.Channel {
	t.Helper()
	ch := rabbitnode.ChannelT(t, node)
	if confirm {
		if err := ch.Confirm(false); err != nil {
			t.Fatal(err)
		}
	}
	return ch
}

// publishConfirmed publishes msg as another client would and waits for the
// broker's confirm.
func publishConfirmed(t *testing.T, exchange, key string, msg amqp.Publishing) {
	t.Helper()
	dc, err := brokerChannel(t, true).PublishWithDeferredConfirm(exchange, key, false, false, msg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := dc.WaitContext(context.Background()); !ok || err != nil {
		t.Fatalf("publish to %s not confirmed: %v", exchange, err)
	}
}

func jobIDs(jobs []*worker.JobRecord) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

// The periodic sweep passes over a dead-letter queue that holds one
// message per dead job, and takes up one that holds more.
func TestDeadLetters_PeriodicSweepSkipsSettledQueues(t *testing.T) {
	needNode(t)
	t.Parallel()
	q := openQueue(t, node.URL(""), randomPrefix(), nil)
	killJob(t, q)
	q.mu.Lock()
	l := q.link
	q.mu.Unlock()
	if !q.settled(l, "q") {
		t.Fatal("a dead-letter queue with one message for one dead job is taken for unsettled")
	}
	publishDeadLetter(t, q, newID(now()))
	if q.settled(l, "q") {
		t.Fatal("a dead-letter queue with a message the records do not know is taken for settled")
	}
	res, err := q.sweepDeadLetters("q", true)
	if err != nil || res.Recorded != 1 {
		t.Fatalf("periodic sweep: %+v %v, want the unknown dead letter recorded", res, err)
	}
	if !q.settled(l, "q") {
		t.Fatal("still unsettled after the sweep")
	}

	// A message that is not a job stays for an operator; it is reported
	// once, and the queue counts as settled with it.
	publishConfirmed(t, q.names.deadExchange(), "q", amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("not a job")})
	res, err = q.sweepDeadLetters("q", true)
	if err != nil || res.NotJobs != 1 || res.NewNotJobs != 1 {
		t.Fatalf("sweep with a message that is not a job: %+v %v", res, err)
	}
	if !q.settled(l, "q") {
		t.Fatal("unsettled with a message that is not a job the last sweep saw")
	}
	if res, err := q.sweepDeadLetters("q", true); err != nil || res != (SweepResult{}) {
		t.Fatalf("a settled queue was swept again: %+v %v", res, err)
	}
}

// sweepTimes sweeps q's "q" n times and checks that its dead job is still
// there, in the queue and in the records.
func sweepTimes(t *testing.T, q *Queue, j *worker.JobRecord, n int) {
	t.Helper()
	for i := range n {
		if _, err := q.SweepDeadLetters("q"); err != nil {
			t.Fatalf("sweep %d: %v", i+1, err)
		}
	}
	if depth := deadDepth(t, q); depth != 1 {
		t.Fatalf("after %d sweeps the dead-letter queue holds %d messages, want the dead job's 1", n, depth)
	}
	got, err := q.Get(context.Background(), j.ID)
	if err != nil || got.State != worker.StateDead {
		t.Fatalf("after %d sweeps: %+v, %v; want the job dead", n, got, err)
	}
}

// A dead job survives any number of sweeps: each sweep hands its message
// back to the dead-letter queue, and RabbitMQ 4.0 would drop a message
// handed back 20 times from a quorum queue without a delivery limit.
func TestDeadLetters_SurviveManySweeps(t *testing.T) {
	needNode(t)
	url := node.URL("")
	q := openQueue(t, url, randomPrefix(), nil)
	sweepTimes(t, q, killJob(t, q), 50)
}

// A dead-letter queue declared by an older kilnd, without the delivery
// limit, is used as it is: the broker refuses to change its arguments. On
// RabbitMQ 4.0 the log names the policy that lifts the limit, and with it
// applied the dead job survives the sweeps; 3.10 has no default limit and
// keeps it without one.
func TestDeadLetters_OlderDeadQueueIsUsed(t *testing.T) {
	needNode(t)
	url := node.URL("")
	prefix := randomPrefix()
	dead := names{prefix: prefix}.dead("q")
	if _, err := brokerChannel(t, false).QueueDeclare(dead, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatal(err)
	}
	var logged instance.LogBuffer // the queue's goroutines write it while the test reads
	q := openQueueWith(t, url, Options{URLs: []string{url}, Prefix: prefix, Queues: testQueues, Log: slog.New(slog.NewTextHandler(&logged, nil)),
		RecordsFile: filepath.Join(t.TempDir(), "records.db")})
	j := killJob(t, q)
	if n := deadDepth(t, q); n != 1 {
		t.Fatalf("the older dead-letter queue holds %d messages, want the dead job's 1", n)
	}
	policy := q.names.deliveryLimitPolicy()
	if q.link.major >= 4 {
		if want := "rabbitmqctl " + shellLine(policy); !strings.Contains(logged.String(), strconv.Quote(want)) {
			t.Fatalf("the log does not name the policy %s:\n%s", want, logged.String())
		}
		if out, err := node.Ctl(policy...); err != nil {
			t.Fatalf("rabbitmqctl %s: %v\n%s", shellLine(policy), err, out)
		}
	} else if strings.Contains(logged.String(), "set_policy") {
		t.Fatalf("on RabbitMQ %d the log asks for a policy it does not need:\n%s", q.link.major, logged.String())
	}
	sweepTimes(t, q, j, 50)
}
