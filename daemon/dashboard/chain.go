package dashboard

import (
	"context"
	"errors"

	"kiln/worker"
)

// maxChainShown bounds the children a job page looks up: a kind may name
// many follow-ups, and each is one read of the queue.
const maxChainShown = 50

// chainLink is one job of a chain on a job page: its state now, or none
// when it has been purged.
type chainLink struct {
	ID     string
	State  worker.State
	Purged bool
	Err    string // why its state could not be read
}

// jobChain is a job's place in its chain: the step before and the steps
// after it.
type jobChain struct {
	Parent   *chainLink
	Children []chainLink
	More     int // children beyond maxChainShown
}

// chainOf looks up the parent and children of j.
func (d *Dashboard) chainOf(ctx context.Context, j *worker.JobRecord) jobChain {
	link := func(id string) chainLink {
		c, err := d.backend.Job(ctx, id)
		switch {
		case errors.Is(err, worker.ErrNotFound):
			return chainLink{ID: id, Purged: true}
		case err != nil:
			return chainLink{ID: id, Err: err.Error()}
		}
		return chainLink{ID: id, State: c.State}
	}
	var out jobChain
	if j.Parent != "" {
		p := link(j.Parent)
		out.Parent = &p
	}
	for i, id := range j.Children {
		if i == maxChainShown {
			out.More = len(j.Children) - i
			break
		}
		out.Children = append(out.Children, link(id))
	}
	return out
}
