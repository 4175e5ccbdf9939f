package rabbitmq

import (
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/worker"
)

// A queue's max_running holds for the fleet by shares: each host runs at
// most ⌈max_running ÷ hosts⌉ of its jobs at once, where hosts is the
// number of consumers of the queue's work queue on the broker (each kilnd
// has one), counted again when the count is older than shareFresh. So the
// fleet runs at most max_running jobs of the queue when the hosts divide
// it, and at most max_running + hosts − 1 otherwise; a host without jobs
// leaves its share unused. A pool of permits on the broker would be exact,
// but the broker counts no messages held unacked, which such a pool would
// need to be rebuilt true after a change or a failover; shares need no
// state at all.

var _ worker.FleetRunning = (*Queue)(nil)

// shareFresh is how old a count of hosts may be before it is taken again.
const shareFresh = 2 * time.Second

// runningShares is what this host knows of the hosts sharing each queue;
// its own mutex guards it, never held with Queue.mu.
type runningShares struct {
	mu     sync.Mutex
	hosts  map[string]hostCount // per queue, the last count
	asking map[string]bool
	wg     sync.WaitGroup // the counts under way, for Close
}

// hostCount is how many consumers a queue's work queue had, and when.
type hostCount struct {
	n  int
	at time.Time
}

// RunningShare implements worker.FleetRunning. Until the hosts are
// counted, a host's share is one job.
func (q *Queue) RunningShare(queue string, limit int) int {
	s := &q.shares
	s.mu.Lock()
	count, known := s.hosts[queue]
	if (!known || time.Since(count.at) > shareFresh) && !s.asking[queue] && !q.isClosing() {
		if s.asking == nil {
			s.hosts, s.asking = map[string]hostCount{}, map[string]bool{}
		}
		s.asking[queue] = true
		s.wg.Add(1)
		go q.countHosts(queue)
	}
	s.mu.Unlock()
	if count.n < 1 {
		return 1
	}
	return (limit + count.n - 1) / count.n
}

func (q *Queue) isClosing() bool {
	select {
	case <-q.closing:
		return true
	default:
		return false
	}
}

// countHosts counts the consumers of queue's work queue, and signals Ready
// when the count changed.
func (q *Queue) countHosts(queue string) {
	s := &q.shares
	defer s.wg.Done()
	n, err := q.consumersOf(queue)
	s.mu.Lock()
	s.asking[queue] = false
	changed := false
	if err == nil {
		changed = s.hosts[queue].n != n
		s.hosts[queue] = hostCount{n, time.Now()}
	}
	s.mu.Unlock()
	if err != nil {
		q.log.Debug("hosts sharing a queue not counted", "queue", queue, "err", err)
	}
	if changed {
		q.signalReady()
	}
}

func (q *Queue) consumersOf(queue string) (int, error) {
	q.mu.Lock()
	l := q.link
	q.mu.Unlock()
	if l == nil {
		return 0, q.unavailable("count the hosts of " + queue)
	}
	var n int
	err := l.declare(func(ch *amqp.Channel) error {
		st, err := ch.QueueDeclarePassive(q.names.work(queue), true, false, false, false, nil)
		n = st.Consumers
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("inspect queue %s on %s: %w", q.names.work(queue), l.url, err)
	}
	return n, nil
}
