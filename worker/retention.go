package worker

import (
	"context"
	"log/slog"
	"time"
)

// RetentionPolicy is how long one queue keeps finished jobs; zero keeps
// them forever.
type RetentionPolicy struct {
	KeepSucceeded time.Duration
	KeepDead      time.Duration
}

// EnforceRetention deletes finished jobs past their queue's retention and
// says so in the log: a job is never dropped without a line and a count.
// It returns how many jobs it deleted.
func EnforceRetention(ctx context.Context, q Queue, policies map[string]RetentionPolicy, log *slog.Logger) int {
	total := 0
	for queue, p := range policies {
		for state, keep := range map[State]time.Duration{StateSucceeded: p.KeepSucceeded, StateDead: p.KeepDead} {
			if keep <= 0 {
				continue
			}
			n, err := q.Purge(ctx, queue, state, keep)
			if err != nil {
				log.Error("retention: purge failed", "queue", queue, "state", state, "err", err)
				continue
			}
			if n > 0 {
				log.Info("retention: deleted finished jobs past their keep time", "queue", queue, "state", state, "jobs", n, "keep", keep)
			}
			total += n
		}
	}
	return total
}
