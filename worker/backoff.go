package worker

import (
	"math/rand/v2"
	"time"
)

// Backoff returns how long to wait before the next try after the given
// number of attempts: base doubling per attempt up to max, with the upper
// half jittered so that jobs failing together do not retry together.
func Backoff(attempts int, base, max time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	d := base
	for i := 1; i < attempts && d < max; i++ {
		d *= 2
	}
	if max > 0 && d > max {
		d = max
	}
	half := d / 2
	return half + rand.N(half+1)
}
