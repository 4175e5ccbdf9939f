package worker

import "context"

// Leader is what a backend shared by several hosts offers so that a task
// runs on one host at a time (following the fleet's event log to announce
// each event once, say), with a small state that moves with the lead: the
// next leader reads what the last one saved.
type Leader interface {
	// Lead calls run while this process leads name, with a context that
	// ends when it stops leading (its connection lost, ctx done), and
	// comes back for the lead whenever it is free; it returns when ctx is
	// done. Two leaders can overlap for a moment when one loses its
	// connection: what run does must be safe to do twice.
	Lead(ctx context.Context, name string, run func(ctx context.Context, state LeadState))
}

// LeadState is the state that moves with a lead.
type LeadState interface {
	// Saved is the last value any leader of the name saved; ok is false
	// when none ever did.
	Saved() (value uint64, ok bool)
	// Save stores v durably for the next leader.
	Save(ctx context.Context, v uint64) error
}
