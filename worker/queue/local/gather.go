package local

import "time"

// A commit costs about the same whether it holds one change or fifty: two
// fdatasyncs, and a rewrite of every page it touches. Under a steady load of
// clients that each wait for their change to be durable, the changes arrive
// spread over the previous commit's time, and a commit that starts as soon
// as one is queued often holds that one alone (a lease of the workers, say,
// woken by the commit before), while the clients' next changes come a
// fraction of a millisecond later and need a commit of their own.
//
// So a commit waits for company, but only when the commit before it was
// shared by many changes: there is then concurrency worth waiting for, and a
// lone client, whose commits hold one change each, never waits. It waits
// until it holds half as many changes as the commit before, and no longer
// than that commit took: a change that waits so costs it at most one
// commit's time, as much as arriving just after a commit had begun.

// gatherAfter is the size of a commit from which the next one waits for
// company.
const gatherAfter = 8

// maxGatherWait bounds the wait on a slow disk, where a commit's time says
// more about the disk than about the clients.
const maxGatherWait = 2 * time.Millisecond

// commitGathering is what the commit loop knows of the commit before.
type commitGathering struct {
	lastChanges int
	lastTook    time.Duration
}

// target says how many changes the batch being gathered waits for and for
// how long at most; wait is 0 when it commits at once.
func (g commitGathering) target(have int) (want int, wait time.Duration) {
	if g.lastChanges < gatherAfter {
		return have, 0
	}
	want = min(g.lastChanges/2, maxWritesPerCommit)
	if have >= want {
		return have, 0
	}
	return want, min(g.lastTook, maxGatherWait)
}

// committed notes a commit of changes that took took (from the start of its
// transaction to durable).
func (g *commitGathering) committed(changes int, took time.Duration) {
	g.lastChanges, g.lastTook = changes, took
}
