package rabbitmq

import (
	"kiln/worker"
)

// A new job's queued event is confirmed before its message is published
// (submit.go), so a submitter that dies between the two confirms leaves
// a record of a queued job that has no message: nothing will run it.
// Without a unique key that costs a record (the submit failed, and its
// client submits again under a new ID). With one, or for SubmitOnce, it
// would lose the job: the record holds the key, every later submit of it
// is a duplicate of that job, and the job never runs.
//
// The broker has no lookup of a message by ID, so the admission leader
// cannot tell such a job from one whose message waits its turn. When a
// submit is a duplicate of a job that may be one, the leader publishes
// the job's message again, once: a second message of a job is harmless
// (dedupe.go: acked away as stale once the job finished, or as a second
// message while it is held or runs; at worst the job runs again under
// its one ID, as at-least-once delivery may).
//
// A job may be one when nothing has happened to it since its queued
// event and that event came from another process than this leader. A
// process publishes its own admissions before it answers, and withdraws
// on this host at once any it could not publish, so what it published
// itself has its message; the jobs of another process (an earlier leader
// that died, or a host whose message it refused) are unknown.

// mayBeUnpublishedLocked reports whether r may be a job whose message was
// never published; mu is held.
func (q *Queue) mayBeUnpublishedLocked(r *record) bool {
	return !r.resent && r.seq == 1 && r.host != q.host &&
		(r.job.State == worker.StateQueued || r.job.State == worker.StateScheduled)
}

// publishUnpublished publishes again, in one window of confirms, the
// message of each job of ids that may never have had one, once per job
// for this process.
func (q *Queue) publishUnpublished(ids []string) {
	if len(ids) == 0 {
		return
	}
	q.mu.Lock()
	l := q.link
	var suspects []record // copies: the records change under mu
	for _, id := range ids {
		if r := q.records[id]; r != nil && q.mayBeUnpublishedLocked(r) {
			suspects = append(suspects, *r)
		}
	}
	q.mu.Unlock()
	var msgs []outgoing
	var sent []*record // the job of each of msgs
	for i := range suspects {
		r := &suspects[i]
		msg, err := q.jobCopy(l, &r.job, r.job.Attempts, r.gen, r.copy)
		if err != nil {
			q.log.Warn("could not publish again the message of a job that may have none; the next duplicate of it tries again",
				"job", r.job.ID, "queue", r.job.Queue, "err", err)
			continue
		}
		msgs, sent = append(msgs, msg), append(sent, r)
	}
	if len(msgs) == 0 {
		return
	}
	acked, err := q.publishEach(l, msgs)
	for k, r := range sent {
		if k < len(acked) && acked[k] {
			q.log.Info("published again the message of a job that was queued by a process now gone and has not run, as that process may have died before publishing it",
				"job", r.job.ID, "queue", r.job.Queue, "unique_key", r.job.UniqueKey, "queued_by", r.host)
		} else {
			q.log.Warn("could not publish again the message of a job that may have none; the next duplicate of it tries again",
				"job", r.job.ID, "queue", r.job.Queue, "err", err)
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for k, r := range sent {
		if k >= len(acked) || !acked[k] {
			continue
		}
		if cur := q.records[r.job.ID]; cur != nil {
			cur.resent = true
		}
		if r.job.State == worker.StateQueued {
			q.queueState(r.job.Queue).expect[r.job.ID] = r.job.RunAt
		}
	}
}
