package rabbitmq

import "kiln/worker"

// A job's message can be on the broker twice: a follow-up published again
// by a parent that ran again after a crash cut it short between the
// follow-up's confirm and its own success, or a producer's message
// published again when its confirm was lost. Both messages carry the job's
// ID, generation and copy, and a delivery of the second must not run the
// job beside the first.
//
// A job whose copy has finished is acked away as stale (onDelivery). What
// is left is a second message of a job that is not finished: it is acked
// away when the first is known to be held, since the first comes back to
// some consumer if its holder dies:
//
//   - held here: leased, in the buffer, or held until due. A lease whose
//     delivery died with an earlier connection takes the new delivery in
//     its place instead: that is the same message handed back, and the
//     running attempt's answer acks it.
//   - recorded running by any host, and this delivery is the message's
//     first (x-delivery-count absent): a running job's own message comes
//     back counted, so an uncounted one is a second message.
//
// A second message that reaches another host before that host has read
// the first one's running event is not recognised, and runs the job again
// under its one ID, as at-least-once delivery may; one host never runs a
// job twice at once.

// copyVerdict is what a delivery of a known job copy is.
type copyVerdict int

const (
	copyNew       copyVerdict = iota // not held anywhere known: it runs
	copyDuplicate                    // a second message: ack it away
	copyTakenOver                    // it replaces a running lease's dead delivery
)

// knownCopyLocked judges a delivery of a job copy that is not stale
// against what this process holds and the job's record r (nil when there
// is none); mu is held.
func (q *Queue) knownCopyLocked(queue string, dv *delivered, r *record) copyVerdict {
	id := dv.job.ID
	same := func(o *delivered) bool { return o.job.ID == id && o.gen == dv.gen && o.copy == dv.copy }
	if ls := q.leased[id]; ls != nil && same(ls.d) {
		if ls.d.l == dv.l {
			return copyDuplicate
		}
		ls.d = dv
		return copyTakenOver
	}
	if qs := q.queues[queue]; qs != nil {
		for _, list := range [][]*delivered{qs.buf, qs.held} {
			for _, o := range list {
				if same(o) {
					return copyDuplicate
				}
			}
		}
	}
	if r != nil && r.gen == dv.gen && r.copy == dv.copy && r.job.State == worker.StateRunning && dv.interrupted == 0 {
		return copyDuplicate
	}
	return copyNew
}
