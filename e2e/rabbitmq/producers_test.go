package rabbitmq

import (
	"sync"
	"testing"
	"time"
)

// producers submit batches of image jobs through hosts until stopped,
// keeping the IDs the daemons confirmed and counting what was refused, as
// applications that back off and try again while the broker is away.
type producers struct {
	mu         sync.Mutex
	accepted   []string
	refused    int
	refusedMsg string
	slowest    time.Duration // the slowest refusal
	stop       chan struct{}
	stopOnce   sync.Once
	wg         sync.WaitGroup
}

// startProducers starts one producer per host; they stop when stopped is
// called, at the latest when the test ends.
func startProducers(t *testing.T, pics string, hosts ...*host) *producers {
	p := &producers{stop: make(chan struct{})}
	for _, h := range hosts {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				select {
				case <-p.stop:
					return
				default:
				}
				t0 := time.Now()
				ids, err := trySubmit(h, pics, 20)
				took := time.Since(t0)
				p.mu.Lock()
				if err != nil {
					p.refused++
					p.refusedMsg = err.Error()
					p.slowest = max(p.slowest, took)
				} else {
					p.accepted = append(p.accepted, ids...)
				}
				p.mu.Unlock()
				if err != nil {
					select {
					case <-p.stop:
						return
					case <-time.After(20 * time.Millisecond): // backing off while the broker is away
					}
				}
			}
		}()
	}
	t.Cleanup(p.halt)
	return p
}

func (p *producers) halt() {
	p.stopOnce.Do(func() { close(p.stop) })
	p.wg.Wait()
}

// stopped stops the producers and returns every confirmed job ID.
func (p *producers) stopped() []string {
	p.halt()
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.accepted...)
}

// count is how many jobs were confirmed so far.
func (p *producers) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.accepted)
}

// refusals is how many submits were refused so far, and the last reason.
func (p *producers) refusals() (int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused, p.refusedMsg
}
