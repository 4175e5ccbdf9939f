package worker

import (
	"context"
	"log/slog"
	"time"
)

// EnforceRetention deletes finished jobs past their queue's keep_succeeded
// and keep_dead (zero keeps them forever) and says so in the log: a job is
// never dropped without a line and a count. It returns how many jobs it
// deleted.
func EnforceRetention(ctx context.Context, q Queue, queues map[string]QueueConfig, log *slog.Logger) int {
	total := 0
	for queue, c := range queues {
		for state, keep := range map[State]time.Duration{StateSucceeded: c.KeepSucceeded.Std(), StateDead: c.KeepDead.Std()} {
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
