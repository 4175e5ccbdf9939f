package worker

import "time"

// tokenBucket keeps a queue's rate on one host: it holds up to burst
// tokens, gains them at the rate, and a job starts only on a token.
type tokenBucket struct {
	rate   Rate
	burst  int
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// newTokenBucket returns a full bucket: a queue may start burst jobs at
// once after a start or a reload, as after any idle spell.
func newTokenBucket(rate Rate, burst int, now time.Time) *tokenBucket {
	return &tokenBucket{rate: rate, burst: burst, tokens: float64(burst), at: now}
}

func (b *tokenBucket) refill(now time.Time) {
	if now.After(b.at) {
		b.tokens = min(float64(b.burst), b.tokens+now.Sub(b.at).Seconds()*b.rate.PerSecond())
		b.at = now
	}
}

// take takes up to n whole tokens and returns how many it took; when it
// took fewer than n, next is when the next token will be there.
func (b *tokenBucket) take(n int, now time.Time) (took int, next time.Time) {
	b.refill(now)
	took = min(n, int(b.tokens))
	b.tokens -= float64(took)
	if took < n {
		// Fewer than n were there, so less than one is left.
		wait := (1 - b.tokens) / b.rate.PerSecond()
		next = now.Add(time.Duration(wait * float64(time.Second)))
	}
	return took, next
}

// give returns tokens taken but not used.
func (b *tokenBucket) give(n int) {
	b.tokens = min(float64(b.burst), b.tokens+float64(n))
}
