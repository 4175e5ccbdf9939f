package daemon

import (
	"log/slog"
	"sync"
	"time"
)

// maxRefusalKeys bounds the addresses and kinds of refusal a refusalLog
// tells apart in one interval; refusals past it are counted together, so
// that a flood from many addresses costs a bounded map and bounded lines.
const maxRefusalKeys = 1024

// refusalKey is one kind of refusal from one client address.
type refusalKey struct {
	remote string // the client's address, without its port
	msg    string // the refusal's log message, such as "http request refused: no bearer token"
	token  string // the token's name, for refusals of a known token
}

// refusalLog logs refused requests and connections in summary: the first
// refusal of each kind from an address is logged in full at once, the
// ones that follow are counted and logged as one line per address and
// kind each interval, and a kind quiet for a whole interval is forgotten,
// so its next refusal is logged in full again. A flood of refusals costs a
// few lines an interval, not one each.
type refusalLog struct {
	log   *slog.Logger
	every func() time.Duration // the interval, read as each one begins

	mu       sync.Mutex
	counts   map[refusalKey]int // refusals since the last summary, past the first
	overflow int                // refusals of keys past maxRefusalKeys
	timer    *time.Timer        // the next summary, while any key is tracked
	closed   bool
}

func newRefusalLog(log *slog.Logger, every func() time.Duration) *refusalLog {
	return &refusalLog{log: log, every: every, counts: map[refusalKey]int{}}
}

// refuse records one refusal; attrs go on its line when it is logged in
// full.
func (l *refusalLog) refuse(key refusalKey, attrs ...any) {
	l.mu.Lock()
	first := false
	if n, seen := l.counts[key]; seen {
		l.counts[key] = n + 1
	} else if len(l.counts) >= maxRefusalKeys {
		l.overflow++
	} else {
		l.counts[key] = 0
		first = true
	}
	if l.timer == nil && !l.closed {
		l.timer = time.AfterFunc(l.every(), l.summarise)
	}
	l.mu.Unlock()
	if first {
		args := append([]any{"remote", key.remote}, attrs...)
		if key.token != "" {
			args = append(args, "token_name", key.token)
		}
		l.log.Warn(key.msg, args...)
	}
}

// summarise logs the counts of the interval that ended and starts the
// next one, forgetting the keys that were quiet throughout.
func (l *refusalLog) summarise() {
	l.mu.Lock()
	interval := l.every()
	type line struct {
		key refusalKey
		n   int
	}
	var lines []line
	for k, n := range l.counts {
		if n == 0 {
			delete(l.counts, k)
			continue
		}
		lines = append(lines, line{k, n})
		l.counts[k] = 0
	}
	overflow := l.overflow
	l.overflow = 0
	l.timer = nil
	if len(l.counts) > 0 && !l.closed {
		l.timer = time.AfterFunc(interval, l.summarise)
	}
	l.mu.Unlock()
	for _, ln := range lines {
		args := []any{"remote", ln.key.remote, "refused", ln.n, "reason", ln.key.msg}
		if ln.key.token != "" {
			args = append(args, "token_name", ln.key.token)
		}
		l.log.Warn("refusals since the last summary", args...)
	}
	if overflow > 0 {
		l.log.Warn("refusals since the last summary", "remote", "(other addresses)", "refused", overflow)
	}
}

// close logs what is counted and stops the summaries; used at shutdown.
func (l *refusalLog) close() {
	l.mu.Lock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	l.summarise()
}
