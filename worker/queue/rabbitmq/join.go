package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/worker"
)

// joinState is a joining host's reading of the past and what it asked
// of others meanwhile; Queue.mu guards it.
type joinState struct {
	// past is the reading of the stream's past, nil when there is none;
	// pastDone is closed when none is left.
	past     *pastRead
	pastDone chan struct{}
	// askedStats are the counts of a host that keeps records, as of
	// askedStatsAt, for max_queued on a host that asks others.
	askedStats   map[string]*worker.QueueStats
	askedStatsAt time.Time
}

// Joining a fleet: a kilnd with no records of its own (a new host, or a
// lost records file) does not read the whole records stream before it
// says it is ready, which takes minutes at millions of jobs. If another
// kilnd of the fleet has read the stream's whole past, the new one reads
// the stream from its last chunk on (what happens from now), and reads
// the past behind it; until it has, it asks that host for what only the
// past knows: a job it has no record of, a listing, the counts. A record
// of its own is never older than that host's: it has read every event of
// its job since the last chunk began, and an older event never undoes a
// newer one. With no such host (the first kilnd, or the whole fleet
// starting from nothing), it reads the past before it says it is ready,
// as any kilnd did before.
//
// Until the past is read, the host competes for no lead (admission,
// webhooks, retention), purges nothing and retries no whole queue: those
// need every record.

// pastRead is the reading of the stream's past by a host that joined.
type pastRead struct {
	until int64 // the first offset the live reader read: the past ends before it
	at    int64 // the next offset of the past to read
	// live names the queues paused or resumed since the join: the past's
	// older pause or resume of them does not apply.
	live map[string]bool
	// reading is set while an event of the past is applied.
	reading bool
	// first is the first offset the past's reader was handed (-1 before
	// any): above 0, the stream's oldest segments are gone.
	first int64
}

// joinAskWithin bounds the wait for a host that has read the whole past;
// askWithin the wait for its answer to a question.
const (
	joinAskWithin = 5 * time.Second
	askWithin     = 10 * time.Second
	askTTL        = 8 * time.Second
)

// historyRequest is a question of a joining host to a host that has read
// the whole past.
type historyRequest struct {
	Op     string        `json:"op"` // "hello", "get", "list", "stats", "wait", "records" or "charts"
	Wait   time.Duration `json:"wait,omitempty"`
	ID     string        `json:"id,omitempty"`
	Queue  string        `json:"queue,omitempty"`
	State  worker.State  `json:"state,omitempty"`
	Cursor string        `json:"cursor,omitempty"`
	Limit  int           `json:"limit,omitempty"`
	Span   string        `json:"span,omitempty"` // of the charts
}

// historyAnswer is the answer: one record with its sequence numbers, a
// page of a listing, or the counts.
type historyAnswer struct {
	Host   string      `json:"host"`
	Record *pastRecord `json:"record,omitempty"`
	// Records is a page of every record, with Next ("records").
	Records []*pastRecord                 `json:"records,omitempty"`
	Jobs    []*worker.JobRecord           `json:"jobs,omitempty"`
	Next    string                        `json:"next,omitempty"`
	Stats   map[string]*worker.QueueStats `json:"stats,omitempty"`
	Charts  json.RawMessage               `json:"charts,omitempty"`
	Error   *wireError                    `json:"error,omitempty"`
}

// pastRecord is a record as it travels to a joining host.
type pastRecord struct {
	Job  *worker.JobRecord `json:"job"`
	Seq  uint64            `json:"seq"`
	Gen  int               `json:"gen"`
	Copy uint64            `json:"copy"`
	Host string            `json:"host"`
}

// history names the queue of the questions of joining hosts, which every
// kilnd that has read the whole past consumes.
func (n names) history() string { return n.prefix + ".history" }

// declareHistory declares the queue of the questions, and returns how
// many hosts consume it: a question not taken within askTTL expires
// before its asker gives up.
func (q *Queue) declareHistory(l *link) (int, error) {
	var st amqp.Queue
	err := l.declare(func(ch *amqp.Channel) (err error) {
		st, err = ch.QueueDeclare(q.names.history(), true, false, false, false, amqp.Table{
			"x-queue-type":     "quorum",
			"x-message-ttl":    askTTL.Milliseconds(),
			"x-delivery-limit": int64(admitDeliveries),
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("declare queue %s on %s: %w", q.names.history(), l.url, err)
	}
	q.mu.Lock()
	q.declared[q.names.history()] = true
	q.mu.Unlock()
	return st.Consumers, nil
}

// pastUnread reports whether this host joined and has not read the past
// yet.
func (q *Queue) pastUnread() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.past != nil
}

// PastRead is closed once this host has every record of the stream's
// past (at once for a host that read it before it was ready).
func (q *Queue) PastRead() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pastDone
}

// tryJoin decides, on the first connection of a host without records,
// whether it joins from a host that has read the whole past: it asks one.
// Joining sets q.past.
func (q *Queue) tryJoin(l *link) {
	q.mu.Lock()
	fresh := !q.synced && q.offset == 0 && q.past == nil && !q.opts.NoRecords
	q.mu.Unlock()
	if !fresh {
		return
	}
	answering, err := q.declareHistory(l)
	if err != nil {
		q.log.Warn("joining: the question queue cannot be declared; reading the whole job history first", "err", err)
		return
	}
	if answering == 0 {
		// No kilnd has read the whole past: this one does, before ready.
		return
	}
	ans, err := q.askHistoryOn(l, historyRequest{Op: "hello"}, joinAskWithin)
	if err != nil {
		q.log.Info("no kilnd of the fleet answers for the job history; reading it all before ready", "reason", err)
		return
	}
	q.mu.Lock()
	q.past = &pastRead{live: map[string]bool{}, first: -1}
	q.pastDone = make(chan struct{})
	q.mu.Unlock()
	q.log.Info("joining the fleet: reading the job history behind the live stream; until then its past is asked of a kilnd that has it", "from", ans.Host)
}

// askHistory sends a question to a host that has read the whole past.
func (q *Queue) askHistory(ctx context.Context, req historyRequest, within time.Duration) (*historyAnswer, error) {
	r, err := q.replies()
	if err != nil {
		return nil, fmt.Errorf("ask a kilnd that keeps the job records: %w", err)
	}
	return q.askWith(ctx, r, req, within)
}

// askHistoryOn is askHistory on link l, before it is the current one.
func (q *Queue) askHistoryOn(l *link, req historyRequest, within time.Duration) (*historyAnswer, error) {
	r, err := q.repliesOn(l)
	if err != nil {
		return nil, fmt.Errorf("ask a kilnd that keeps the job records: %w", err)
	}
	return q.askWith(context.Background(), r, req, within)
}

func (q *Queue) askWith(ctx context.Context, r *replies, req historyRequest, within time.Duration) (*historyAnswer, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode history question: %w", err)
	}
	b, err := q.callWith(ctx, r, q.names.history(), body, within)
	if err != nil {
		return nil, fmt.Errorf("ask a kilnd that keeps the job records: %w: %w", worker.ErrUnavailable, err)
	}
	var ans historyAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		return nil, fmt.Errorf("ask a kilnd that keeps the job records: unreadable answer: %w", err)
	}
	if ans.Error != nil {
		return nil, ans.Error.err()
	}
	return &ans, nil
}

// knowJob makes sure a host that asks others for records has a record of
// job id if the fleet has one: it asks a host that keeps them. The error
// says that none could be asked.
func (q *Queue) knowJob(ctx context.Context, id string) error {
	q.mu.Lock()
	ask := q.asksOthersLocked() && q.recordLocked(id) == nil
	q.mu.Unlock()
	if !ask {
		return nil
	}
	ans, err := q.askHistory(ctx, historyRequest{Op: "get", ID: id}, askWithin)
	if err != nil {
		return fmt.Errorf("job %s: %w", id, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	r := ans.Record
	if r == nil || q.recordLocked(id) != nil || r.Job == nil || r.Job.ID != id {
		return nil
	}
	if q.opts.NoRecords {
		// Lent for the operation that asked, which forgets it after
		// (forgetUnheldLocked); not counted, as this host counts nothing.
		q.records[id] = &record{job: *r.Job, seq: r.Seq, gen: r.Gen, copy: r.Copy, host: r.Host}
		return nil
	}
	q.apply(&event{Kind: evJob, Host: r.Host, Seq: r.Seq, Gen: r.Gen, Copy: r.Copy, Job: r.Job})
	return nil
}

// startPast starts the reader of the past, once the live reader has read
// up to the sync marker (so that until is known).
func (q *Queue) startPast(l *link) error {
	q.mu.Lock()
	p := q.past
	q.mu.Unlock()
	if p == nil {
		return nil
	}
	q.mu.Lock()
	var from any = "first"
	if p.at > 0 {
		from = p.at
	}
	until := p.until
	q.mu.Unlock()
	ch, deliveries, err := readStream(l, q.names.records(), from, pastStreamCredit)
	if err != nil {
		return fmt.Errorf("read the past: %w", err)
	}
	go func() {
		if q.opts.holdPast != nil {
			select {
			case <-q.opts.holdPast:
			case <-q.closing:
				return
			}
		}
		started := time.Now()
		for d := range deliveries {
			off := headerInt(d.Headers, "x-stream-offset")
			q.mu.Lock()
			if p.first < 0 {
				p.first = off
			}
			q.mu.Unlock()
			if off >= until {
				ch.Close()
				if p.first > 0 {
					// The stream no longer holds its start: the jobs whose
					// every event is gone are known only to the hosts that
					// read them in time.
					if err := q.copyOlderRecords(); err != nil {
						q.log.Error("job records older than the records stream not copied from another kilnd; this host goes on asking for the past", "err", err)
						return
					}
				}
				q.pastFinished(l, started)
				return
			}
			evs, err := decodeEvents(d.Body)
			if err != nil {
				q.log.Warn("unreadable events in the records stream, skipped", "stream", q.names.records(), "offset", off, "err", err)
			}
			q.mu.Lock()
			if off >= p.at {
				p.reading = true
				for _, e := range evs {
					if e == nil || e.Kind == "" || e.Kind == evSync {
						continue
					}
					if (e.Kind == evPause || e.Kind == evResume) && p.live[e.Queue] {
						continue
					}
					q.applyWatched(e)
				}
				p.reading = false
				p.at = off + 1
			}
			behind := q.behindFileLocked()
			q.mu.Unlock()
			d.Ack(false)
			if behind {
				q.waitForFlush()
			}
		}
		// The connection was lost: the next one reads on from p.at.
	}()
	return nil
}

// pastFinished ends the join: the records are whole, the host answers
// from its own and may lead and answer joining hosts itself.
func (q *Queue) pastFinished(l *link, started time.Time) {
	q.mu.Lock()
	if q.past == nil {
		q.mu.Unlock()
		return
	}
	q.past = nil
	close(q.pastDone)
	n := len(q.records)
	q.mu.Unlock()
	q.log.Info("job history read; this host answers from its own records", "took", time.Since(started).Round(time.Millisecond), "records_in_memory", n)
	go q.serveHistory(l)
}

// serveHistory answers the questions of joining hosts on l while it
// lives, as one of the hosts that have read the whole past.
func (q *Queue) serveHistory(l *link) {
	if q.pastUnread() || q.opts.NoRecords {
		return
	}
	if _, err := q.declareHistory(l); err != nil {
		q.log.Warn("history questions not served", "err", err)
		return
	}
	// Each question is answered on its own goroutine: a wait for a job's
	// end holds its question for up to its wait.
	ch, questions, err := consumeRequests(l, q.names.history(), historyInFlight)
	if err != nil {
		q.log.Warn("history questions not served", "err", err)
		return
	}
	defer ch.Close()
	for {
		select {
		case <-q.closing:
			return
		case d, ok := <-questions:
			if !ok {
				return
			}
			go func() { q.reply(ch, d, q.answerHistory(l, d.Body)) }()
		}
	}
}

// answerHistory answers one question from this host's records, read up
// to the question: the asker sees its own changes in the answer.
func (q *Queue) answerHistory(l *link, body []byte) []byte {
	var req historyRequest
	ans := historyAnswer{Host: q.host}
	err := json.Unmarshal(body, &req)
	if err == nil && req.Op != "hello" && req.Op != "records" && req.Op != "charts" {
		// A hello needs no record, and the records older than the stream
		// were read long ago: the others wait for this host's reader.
		err = q.readToNow(l, "history", catchUpWithin)
	}
	ctx := context.Background()
	if err == nil {
		switch req.Op {
		case "hello":
		case "get":
			q.mu.Lock()
			if r := q.recordLocked(req.ID); r != nil {
				ans.Record = &pastRecord{Job: r.snapshot(), Seq: r.seq, Gen: r.gen, Copy: r.copy, Host: r.host}
			}
			q.mu.Unlock()
		case "list":
			ans.Jobs, ans.Next, err = q.ListAfter(ctx, req.Queue, req.State, req.Cursor, req.Limit)
		case "stats":
			ans.Stats, err = q.Stats(ctx)
		case "records":
			var page []*worker.JobRecord
			if page, ans.Next, err = q.ListAfter(ctx, "", "", req.Cursor, req.Limit); err == nil {
				q.mu.Lock()
				for _, j := range page {
					if r := q.recordLocked(j.ID); r != nil {
						ans.Records = append(ans.Records, &pastRecord{Job: r.snapshot(), Seq: r.seq, Gen: r.gen, Copy: r.copy, Host: r.host})
					}
				}
				q.mu.Unlock()
			}
		case "charts":
			ans.Charts, err = q.answerCharts(req.Span)
		case "wait":
			wctx, cancel := context.WithTimeout(ctx, min(req.Wait, maxAskedWait))
			var j *worker.JobRecord
			if j, err = q.WaitFinished(wctx, req.ID); err == nil {
				ans.Record = &pastRecord{Job: j}
			}
			cancel()
		default:
			err = fmt.Errorf("history question %q: %w", req.Op, worker.ErrNotSupported)
		}
	}
	ans.Error = toWire(err)
	b, err := json.Marshal(ans)
	if err != nil {
		b, _ = json.Marshal(historyAnswer{Host: q.host, Error: toWire(fmt.Errorf("encode history answer: %w", err))})
	}
	return b
}

// errPastUnread is the refusal of what needs every record while the past
// is being read.
func errPastUnread(op string) error {
	return fmt.Errorf("%s: %w: this kilnd joined the fleet and is still reading the job history; try again in a moment, or on another host", op, worker.ErrUnavailable)
}

// markLiveLocked notes that a queue was paused or resumed since the join;
// mu is held.
func (q *Queue) markLiveLocked(queue string) {
	if q.past != nil && !q.past.reading {
		q.past.live[queue] = true
	}
}

// listAsked is List for a host that has not read the past: the pages of
// a host that has.
func (q *Queue) listAsked(ctx context.Context, queue string, state worker.State, limit int) ([]*worker.JobRecord, error) {
	var out []*worker.JobRecord
	cursor := ""
	for {
		page := listPageSize
		if limit > 0 {
			page = min(page, limit-len(out))
		}
		ans, err := q.askHistory(ctx, historyRequest{Op: "list", Queue: queue, State: state, Cursor: cursor, Limit: page}, askWithin)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, ans.Jobs...)
		if ans.Next == "" || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
		cursor = ans.Next
	}
}

// listPageSize is the page a joining host asks for at a time.
const listPageSize = 1000

// waitingJobs counts the jobs of a queue that wait to run. A host that
// has not read the past counts only the jobs it saw since it joined, and
// one that keeps no records counts none, so they take the count of a host
// that keeps them, asked at most once per pastCountsFresh.
func (q *Queue) waitingJobs(name string) (int, error) {
	q.mu.Lock()
	if !q.asksOthersLocked() {
		defer q.mu.Unlock()
		return q.waitingLocked(name), nil
	}
	if time.Since(q.askedStatsAt) > pastCountsFresh {
		q.mu.Unlock()
		ans, err := q.askHistory(context.Background(), historyRequest{Op: "stats"}, askWithin)
		if err != nil {
			return 0, err
		}
		q.mu.Lock()
		q.askedStats, q.askedStatsAt = ans.Stats, time.Now()
	}
	defer q.mu.Unlock()
	if !q.asksOthersLocked() {
		return q.waitingLocked(name), nil
	}
	st := q.askedStats[name]
	if st == nil {
		return 0, nil
	}
	return st.Counts[worker.StateQueued] + st.Counts[worker.StateScheduled] + st.Counts[worker.StateRetrying], nil
}

// pastCountsFresh is how long a joining host keeps the counts it asked for.
const pastCountsFresh = time.Second

// historyInFlight bounds the questions a host answers at once; a wait
// for a job's end may be asked for up to maxAskedWait.
const (
	historyInFlight = 256
	maxAskedWait    = 10 * time.Minute
)

// WaitFinished returns job id once it has finished, or as it is when ctx
// ends. A host that asks others for records asks one that keeps them to
// wait: it would not see another host end the job.
func (q *Queue) WaitFinished(ctx context.Context, id string) (*worker.JobRecord, error) {
	if q.asksOthers() {
		wait := maxAskedWait
		if dl, ok := ctx.Deadline(); ok {
			wait = time.Until(dl)
		}
		ans, err := q.askHistory(ctx, historyRequest{Op: "wait", ID: id, Wait: wait}, wait+askWithin)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return q.Get(context.Background(), id)
		}
		if err != nil {
			return nil, err
		}
		if ans.Record == nil || ans.Record.Job == nil {
			return nil, fmt.Errorf("job %s: %w", id, worker.ErrNotFound)
		}
		return ans.Record.Job, nil
	}
	for {
		changed := q.Changed()
		j, err := q.Get(ctx, id)
		if err != nil || j.State.Terminal() {
			return j, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return j, nil
		}
	}
}

// copyOlderRecords takes, from a host that has read the whole past, the
// records this host has no record or tombstone of: those of jobs whose
// events the records stream no longer holds (a record of its own is
// newer). It asks a page at a time, and waits for the records file as
// the past's reader does.
func (q *Queue) copyOlderRecords() error {
	copied, cursor := 0, ""
	for {
		ans, err := q.askHistory(context.Background(), historyRequest{Op: "records", Cursor: cursor, Limit: listPageSize}, askWithin)
		if err != nil {
			return fmt.Errorf("copy the records older than the stream: %w", err)
		}
		q.mu.Lock()
		for _, r := range ans.Records {
			if r.Job == nil || q.recordLocked(r.Job.ID) != nil {
				continue
			}
			if _, purged := q.purgedGenLocked(r.Job.ID); purged {
				continue
			}
			q.apply(&event{Kind: evJob, Host: r.Host, Seq: r.Seq, Gen: r.Gen, Copy: r.Copy, Job: r.Job})
			copied++
		}
		q.mu.Unlock()
		q.waitForFlush()
		if ans.Next == "" {
			q.log.Info("job records older than the records stream copied from another kilnd", "records", copied)
			return nil
		}
		cursor = ans.Next
	}
}
