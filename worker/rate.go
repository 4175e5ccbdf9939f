package worker

import (
	"sync"
	"time"
)

// rateWindow is the span status rates are averaged over.
const rateWindow = 60

// rateCounter counts outcomes per queue in one-second buckets over the last
// minute.
type rateCounter struct {
	mu     sync.Mutex
	queues map[string]*rateRing
}

type rateRing struct {
	sec       [rateWindow]int64 // unix second each bucket is for
	ok, fails [rateWindow]int64
}

func (r *rateCounter) add(queue string, ok bool, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.queues == nil {
		r.queues = map[string]*rateRing{}
	}
	ring := r.queues[queue]
	if ring == nil {
		ring = &rateRing{}
		r.queues[queue] = ring
	}
	s := now.Unix()
	i := s % rateWindow
	if ring.sec[i] != s {
		ring.sec[i], ring.ok[i], ring.fails[i] = s, 0, 0
	}
	if ok {
		ring.ok[i]++
	} else {
		ring.fails[i]++
	}
}

// perSecond returns each queue's successes and failures per second over
// the last full minute.
func (r *rateCounter) perSecond(now time.Time) (ok, failed map[string]float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok, failed = map[string]float64{}, map[string]float64{}
	cur := now.Unix()
	for q, ring := range r.queues {
		var o, f int64
		for i := range ring.sec {
			if age := cur - ring.sec[i]; age >= 1 && age <= rateWindow {
				o += ring.ok[i]
				f += ring.fails[i]
			}
		}
		ok[q] = float64(o) / rateWindow
		failed[q] = float64(f) / rateWindow
	}
	return ok, failed
}
