package rabbitmq

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"kiln/api"
	"kiln/internal/rabbitnode"
	"kiln/worker"
)

// The chains of the kill test: each a noop that names two noops to follow
// it, every step taking a moment so that kills land while steps run and
// between them.
const (
	killedChains     = 50
	chainsPerLife    = 2
	killedChainSteps = 3
	chainsTable      = `
[queues.chains]
concurrency = 4
max_attempts = 1000
backoff_base = "1ms"
backoff_max = "5ms"
`
)

var killedChainPayload = json.RawMessage(`{"then":["noop","noop"],"sleep":"40ms"}`)

// kill -9 of kilnd at random moments across 50 chains of 3 steps on the
// rabbitmq backend: every chain completes with all its steps, each step
// succeeded once, a step ran again only after a kill cut its run short,
// and no step ran as two jobs.
func TestChainsSurviveKills(t *testing.T) {
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	prefix := uniquePrefix(t)
	h := writeHostConfig(t, "a", pics, hostConfig{urls: []string{brokerURL(node, "")}, prefix: prefix, extra: chainsTable})
	tl := follow(t, []string{node.URL("")}, prefix)
	ctx := context.Background()

	var roots []string
	killed := map[string]bool{} // "/pid/" of each life that was killed
	lives := 0
	for len(roots) < killedChains {
		if lives++; lives > 3*killedChains/chainsPerLife {
			t.Fatalf("only %d of %d chains acknowledged in %d lives", len(roots), killedChains, lives-1)
		}
		h.start(t)
		for range chainsPerLife {
			j, err := h.client().Submit(ctx, api.SubmitRequest{Type: worker.NoopType, Queue: "chains", Payload: killedChainPayload})
			if err == nil && len(roots) < killedChains {
				roots = append(roots, j.ID)
			}
		}
		time.Sleep(time.Duration(50+rand.IntN(500)) * time.Millisecond) // a random moment to kill at
		killed[fmt.Sprintf("/%d/", h.pid())] = true
		h.kill()
	}
	h.start(t)

	var steps []string
	for _, root := range roots {
		id := root
		for range killedChainSteps {
			steps = append(steps, id)
			id = worker.FollowUpID(id, 1)
		}
	}
	waitFor(t, 5*time.Minute, "every step of every chain succeeded", func() (string, bool) {
		done, all := tl.succeededAll(steps)
		return fmt.Sprintf("%d of %d steps", done, len(steps)), all
	})

	passed, failed, reruns := 0, 0, 0
	for _, root := range roots {
		problems := checkKilledChain(ctx, h, tl, root, killed)
		for _, p := range problems {
			t.Error(p)
		}
		if len(problems) > 0 {
			failed++
		} else {
			passed++
		}
	}
	tl.mu.Lock()
	for _, id := range steps {
		if len(tl.runs[id]) > 1 {
			reruns++
		}
	}
	tl.mu.Unlock()
	// Every follow-up in the queue is its parent's one child, under the ID
	// derived from the parent's: none is a second job of a step.
	all, err := h.client().List(ctx, "chains", "", 100000)
	if err != nil {
		t.Fatal(err)
	}
	children := map[string][]string{}
	for _, j := range all {
		if j.Parent != "" {
			children[j.Parent] = append(children[j.Parent], j.ID)
		}
	}
	for p, ids := range children {
		if len(ids) != 1 || ids[0] != worker.FollowUpID(p, 1) {
			failed++
			t.Errorf("job %s has the follow-ups %v, want %s alone: a step ran as two jobs", p, ids, worker.FollowUpID(p, 1))
		}
	}
	t.Logf("kill -9 of kilnd across %d chains of %d steps on the rabbitmq backend: %d lives killed; %d steps ran again because a kill cut their run short; %d second messages of a job acked away",
		len(roots), killedChainSteps, len(killed), reruns, strings.Count(h.stderr.String(), "a second message of a job that is held already"))
	t.Logf("%d passed, %d failed", passed, failed)
}

// checkKilledChain checks one chain's steps in the final kilnd's answers
// and in the runs and successes the records stream holds.
func checkKilledChain(ctx context.Context, h *host, tl *tally, root string, killed map[string]bool) []string {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	id, parent := root, ""
	for step := 1; step <= killedChainSteps; step++ {
		j, err := h.client().Job(ctx, id, 0)
		if err != nil {
			report("chain %s, step %d (%s): %v", root, step, id, err)
			return problems
		}
		var children []string
		if step < killedChainSteps {
			children = []string{worker.FollowUpID(id, 1)}
		}
		if j.State != worker.StateSucceeded || j.Parent != parent || !slices.Equal(j.Children, children) {
			report("chain %s, step %d (%s): %s, parent %q, children %v; want succeeded with %q %v", root, step, id, j.State, j.Parent, j.Children, parent, children)
		}
		tl.mu.Lock()
		runs, succeeded := tl.runs[id], tl.succeeded[id]
		tl.mu.Unlock()
		if succeeded != 1 {
			report("chain %s, step %d (%s) succeeded %d times", root, step, id, succeeded)
		}
		// Every run but the last was on a life that was killed, and no
		// life ran the step twice.
		seen := map[string]bool{}
		for i, host := range runs {
			life := lifeOf(host)
			if seen[life] {
				report("chain %s, step %d (%s) ran twice on %s: %v", root, step, id, host, runs)
			}
			seen[life] = true
			if i < len(runs)-1 && !killed[life] {
				report("chain %s, step %d (%s) ran %d times (%v): a run on %s was not cut short by a kill", root, step, id, len(runs), runs, host)
			}
		}
		parent, id = id, worker.FollowUpID(id, 1)
	}
	return problems
}

// lifeOf is the "/pid/" part of a host name in the records, which tells one
// life of the kilnd from the next.
func lifeOf(host string) string {
	parts := strings.Split(host, "/")
	if len(parts) < 2 {
		return host
	}
	return "/" + parts[1] + "/"
}
