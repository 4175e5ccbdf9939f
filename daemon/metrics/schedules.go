package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scheduleMetrics are the schedules' counters: what an operator alerts on
// when a schedule stops going in (its last tick's time stands still, or
// its failures climb).
type scheduleMetrics struct {
	ticks    *prometheus.CounterVec
	lastTick *prometheus.GaugeVec
}

func newScheduleMetrics(reg *prometheus.Registry) *scheduleMetrics {
	s := &scheduleMetrics{
		ticks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kiln_schedule_ticks_total",
			Help: "Ticks of a schedule this host handled, by outcome: submitted (a job went in), duplicate (the tick's job was in already), failed (the submit was refused; it is tried again).",
		}, []string{"schedule", "outcome"}),
		lastTick: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kiln_schedule_last_tick_timestamp_seconds",
			Help: "The newest tick of a schedule whose job this host submitted, or found in, as a Unix time.",
		}, []string{"schedule"}),
	}
	reg.MustRegister(s.ticks, s.lastTick)
	return s
}

// ScheduleTick counts one tick of a schedule, by its outcome; the tick's
// time counts as the last one unless the submit failed.
func (m *Metrics) ScheduleTick(schedule string, tick time.Time, outcome string) {
	m.schedules.ticks.WithLabelValues(schedule, outcome).Inc()
	if outcome != "failed" {
		m.schedules.lastTick.WithLabelValues(schedule).Set(float64(tick.UnixMilli()) / 1000)
	}
}
