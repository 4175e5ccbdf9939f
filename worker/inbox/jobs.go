package inbox

import (
	"context"
	"errors"
)

// Jobs is kiln's queue as an inbox uses it: queue a picture's job under
// its key, and learn how a job ended.
type Jobs interface {
	// Submit queues one job per picture, all or none, each under its
	// UniqueKey: while the job of a key is unfinished, submitting the key
	// again adds nothing. A picture the queue will never take as it is
	// (not a picture, too big) makes a *Refused error.
	Submit(ctx context.Context, pictures []Picture) error
	// Job tells how job id ended: ended is false while it waits or runs.
	// A job the queue no longer has is ErrGone.
	Job(ctx context.Context, id string) (end End, ended bool, err error)
	// Ends is the queue's record of job ends, nil when it keeps none: the
	// inbox then looks its tickets' jobs up every few seconds.
	Ends() EndLog
}

// EndLog is the record of job ends, in the order they happened, each
// with a place to resume after.
type EndLog interface {
	// Head is the place of the newest end: reading after it returns the
	// ends from now on.
	Head(ctx context.Context) (uint64, error)
	// Read returns the ends of inbox jobs after place after, at most a
	// bounded page, and the place to read after next; more says that
	// another read would return more at once.
	Read(ctx context.Context, after uint64) (ends []End, next uint64, more bool, err error)
	// Changed returns a channel closed when new ends may be there.
	Changed() <-chan struct{}
}

// Picture is the job of one picture, as an inbox submits it.
type Picture struct {
	Pipeline  string
	UniqueKey string // UniqueKey(Pipeline, key)
	Input     string // its path in .processing
}

// End is how a job of an inbox ended.
type End struct {
	Job       string
	UniqueKey string
	Succeeded bool
	// Reason says why it did not succeed, for failed/NAME.error.txt.
	Reason string
}

// Refused is a submit refused for the picture's own sake: trying again
// would not help, so the picture goes to failed/ with Reason.
type Refused struct{ Reason string }

func (e *Refused) Error() string { return "refused: " + e.Reason }

// ErrGone is Job's answer for a job the queue no longer has.
var ErrGone = errors.New("job is no longer in the queue")
