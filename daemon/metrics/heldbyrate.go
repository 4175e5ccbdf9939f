package metrics

import "github.com/prometheus/client_golang/prometheus"

var heldByRateDesc = prometheus.NewDesc("kiln_queue_held_by_rate",
	"1 while a queue has due jobs and free slots on this host but its rate holds them back, else 0.", []string{"queue"}, nil)

// HeldByRateFunc says, for every configured queue, whether its rate holds
// its due jobs back on this host.
type HeldByRateFunc func() map[string]bool

// heldByRateCollector reads the dispatch loop's view at each scrape, as
// status does, so that the gauge and kilnctl status never disagree.
type heldByRateCollector struct {
	held HeldByRateFunc
}

func (c *heldByRateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- heldByRateDesc }

func (c *heldByRateCollector) Collect(ch chan<- prometheus.Metric) {
	for queue, held := range c.held() {
		v := 0.0
		if held {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(heldByRateDesc, prometheus.GaugeValue, v, queue)
	}
}

// ObserveHeldByRate adds kiln_queue_held_by_rate, read at each scrape from
// held.
func (m *Metrics) ObserveHeldByRate(held HeldByRateFunc) error {
	return m.reg.Register(&heldByRateCollector{held: held})
}
