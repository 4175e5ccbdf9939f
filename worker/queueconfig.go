package worker

import (
	"runtime"
	"time"
)

// QueueConfig is one [queues.NAME] table: how a queue's jobs are run,
// bounded and kept. The daemon's config holds one per queue, and every part
// (the pool, the backend's max_queued, retention) reads it from there.
type QueueConfig struct {
	Concurrency   int      `toml:"concurrency"`    // jobs of this queue running at once (its bulkhead)
	MaxAttempts   int      `toml:"max_attempts"`   // default for jobs submitted without their own
	BackoffBase   Duration `toml:"backoff_base"`   // wait after the first failure; doubles per attempt
	BackoffMax    Duration `toml:"backoff_max"`    // the longest wait between attempts
	Timeout       Duration `toml:"timeout"`        // per attempt; zero means none
	MaxQueued     int      `toml:"max_queued"`     // waiting jobs at most; 0 = unlimited
	KeepSucceeded Duration `toml:"keep_succeeded"` // 0 = forever
	KeepDead      Duration `toml:"keep_dead"`      // 0 = forever
	NotifyURL     string   `toml:"notify_url"`     // POSTed a signed event when a job succeeds or goes dead; "" = none
	Rate          Rate     `toml:"rate"`           // job starts per second, minute or hour; zero = unlimited
	Burst         int      `toml:"burst"`          // starts a rate allows at once after an idle spell; 0 = 1
	MaxRunning    int      `toml:"max_running"`    // jobs running at once on all hosts together; 0 = only concurrency per host
}

// DefaultQueueConfig is a queue's settings where its table says nothing.
func DefaultQueueConfig() QueueConfig {
	return QueueConfig{
		Concurrency: runtime.NumCPU(),
		MaxAttempts: 5,
		BackoffBase: Duration(time.Second),
		BackoffMax:  Duration(5 * time.Minute),
		Timeout:     Duration(5 * time.Minute),
		// Succeeded jobs hold their results a week; dead ones a month for
		// an operator to look at and retry.
		KeepSucceeded: Duration(7 * 24 * time.Hour),
		KeepDead:      Duration(30 * 24 * time.Hour),
	}
}
