package chartstore

import (
	"time"
)

// Snapshot is the charts of every queue over one span, as the dashboard
// draws them and as a host that keeps no records is sent them by one that
// does.
type Snapshot struct {
	Span Span `json:"span"`
	// Step is each point's length; End is where the newest point ends.
	Step   time.Duration      `json:"step"`
	End    time.Time          `json:"end"`
	Queues map[string][]Point `json:"queues"`
}

// Point is one step of one queue.
type Point struct {
	Start  time.Time `json:"start"`
	Done   int64     `json:"done"`
	Failed int64     `json:"failed"`
	Wait   Quantiles `json:"wait"`
	Run    Quantiles `json:"run"`
	// Depth is the most jobs queued seen in the step; -1 when no sample
	// was taken in it.
	Depth int64 `json:"depth"`
}

// Quantiles are a step's percentiles of one duration, of N attempts.
type Quantiles struct {
	N   uint64        `json:"n"`
	P50 time.Duration `json:"p50"`
	P95 time.Duration `json:"p95"`
}

// Empty reports whether a point holds nothing at all.
func (p Point) Empty() bool {
	return p.Done == 0 && p.Failed == 0 && p.Wait.N == 0 && p.Run.N == 0 && p.Depth < 0
}

func quantilesOf(h *histogram) Quantiles {
	q := Quantiles{N: h.total()}
	q.P50, _ = h.quantile(0.50)
	q.P95, _ = h.quantile(0.95)
	return q
}

// Snapshot returns the span up to now: every queue, with a point for each
// step, the empty ones too, oldest first. The newest point is the step
// under way.
func (s *Store) Snapshot(span Span) *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	pick := func(sr *series) *ring { return &sr.minutes }
	step, n := minuteStep, minuteBuckets
	if span == SpanDay {
		pick = func(sr *series) *ring { return &sr.quarters }
		step, n = quarterStep, quarterBucket
	} else {
		span = SpanHour
	}
	stepS := int64(step / time.Second)
	last := now.Unix() - now.Unix()%stepS
	snap := &Snapshot{Span: span, Step: step, End: time.Unix(last+stepS, 0).UTC(), Queues: map[string][]Point{}}
	for name, sr := range s.queues {
		r := pick(sr)
		points := make([]Point, n)
		for i := range points {
			start := last - int64(n-1-i)*stepS
			p := Point{Start: time.Unix(start, 0).UTC(), Depth: -1}
			if b := &r.buckets[(start/stepS)%int64(n)]; b.start == start {
				p.Done, p.Failed, p.Depth = b.done, b.failed, b.depth
				p.Wait, p.Run = quantilesOf(&b.wait), quantilesOf(&b.run)
			}
			points[i] = p
		}
		snap.Queues[name] = points
	}
	return snap
}
