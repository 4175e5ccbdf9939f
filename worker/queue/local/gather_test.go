package local

import (
	"testing"
	"time"
)

func TestCommitGathering_Target(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		last int
		took time.Duration
		have int
		want int
		wait time.Duration
	}{
		{name: "first commit", last: 0, took: 0, have: 1, want: 1, wait: 0},
		{name: "lone client: commits of one never wait", last: 1, took: time.Millisecond, have: 1, want: 1, wait: 0},
		{name: "just below the size that waits", last: gatherAfter - 1, took: time.Millisecond, have: 1, want: 1, wait: 0},
		{name: "after a shared commit, a lone change waits for half as many", last: 40, took: 700 * time.Microsecond, have: 1, want: 20, wait: 700 * time.Microsecond},
		{name: "already half as many: no wait", last: 40, took: time.Millisecond, have: 20, want: 20, wait: 0},
		{name: "a slow disk's commit time is capped", last: 40, took: time.Second, have: 3, want: 20, wait: maxGatherWait},
		{name: "never more than one commit takes", last: 4 * maxWritesPerCommit, took: time.Millisecond, have: 1, want: maxWritesPerCommit, wait: time.Millisecond},
	}
	for _, c := range cases {
		g := commitGathering{}
		g.committed(c.last, c.took)
		want, wait := g.target(c.have)
		if want != c.want || wait != c.wait {
			t.Errorf("%s: target(%d) after a commit of %d in %v = %d, %v; want %d, %v", c.name, c.have, c.last, c.took, want, wait, c.want, c.wait)
		}
	}
}
