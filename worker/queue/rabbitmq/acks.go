package rabbitmq

import (
	"log/slog"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Acks of one consumer channel go out in groups. A quorum queue turns
// every ack frame into a command of its replicated log, and the client
// writes every frame with a system call of its own; one ack with
// multiple set settles every delivery up to its tag at the cost of one.
// So the acks of a channel's deliveries are handed to one writer, which
// sends whatever has gathered while it sent the last: the longest run of
// settled deliveries from the oldest unsettled one as one multiple ack,
// any later ones (a job still runs below them) one by one. Under no load
// an ack still goes out at once.
//
// A multiple ack covers only deliveries this process has settled: a tag
// counts as settled once its ack is handed over, or once its nack or
// reject has been sent (those go out at once, in the caller's goroutine,
// before the tag counts). A delivery that is never settled, such as one
// on a channel that died, only stops acks from being grouped.

// groupedAcks is the Acknowledger of one consumer channel's deliveries.
type groupedAcks struct {
	ch  amqp.Acknowledger
	log *slog.Logger

	mu sync.Mutex
	// base is the highest tag up to which every delivery is settled and
	// its ack sent; settled holds the settled tags above it, true while
	// the tag's ack is still to be sent.
	base    uint64
	settled map[uint64]bool
	toSend  int
	closed  bool

	kick chan struct{}
	done chan struct{}
}

// newGroupedAcks starts the ack writer of ch; close stops it.
func newGroupedAcks(ch amqp.Acknowledger, log *slog.Logger) *groupedAcks {
	a := &groupedAcks{ch: ch, log: log, settled: map[uint64]bool{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go a.write()
	return a
}

// Ack implements amqp.Acknowledger: the ack is sent by the writer.
func (a *groupedAcks) Ack(tag uint64, multiple bool) error {
	a.mu.Lock()
	if a.closed || multiple {
		a.mu.Unlock()
		return a.ch.Ack(tag, multiple)
	}
	a.settled[tag] = true
	a.toSend++
	select {
	case a.kick <- struct{}{}:
	default:
	}
	a.mu.Unlock()
	return nil
}

// Nack implements amqp.Acknowledger: sent at once, then the tag counts
// as settled.
func (a *groupedAcks) Nack(tag uint64, multiple, requeue bool) error {
	err := a.ch.Nack(tag, multiple, requeue)
	if err == nil && !multiple {
		a.sent(tag)
	}
	return err
}

// Reject implements amqp.Acknowledger, as Nack.
func (a *groupedAcks) Reject(tag uint64, requeue bool) error {
	err := a.ch.Reject(tag, requeue)
	if err == nil {
		a.sent(tag)
	}
	return err
}

func (a *groupedAcks) sent(tag uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if tag > a.base {
		a.settled[tag] = false
	}
}

// close sends the acks handed over and not sent yet, and from then on
// sends each ack at once.
func (a *groupedAcks) close() {
	a.mu.Lock()
	a.closed = true
	close(a.kick) // under mu: no Ack kicks a closed channel
	a.mu.Unlock()
	<-a.done
}

func (a *groupedAcks) write() {
	defer close(a.done)
	for range a.kick {
		a.flush()
	}
	a.flush()
}

// flush sends what was handed over: one multiple ack for the run of
// settled tags above base, single acks for the settled tags past it.
func (a *groupedAcks) flush() {
	a.mu.Lock()
	if a.toSend == 0 {
		a.mu.Unlock()
		return
	}
	// The run of settled tags above base, and how many of them (and the
	// last) still have an ack to send. A multiple ack names the last of
	// those, not the run's end: the broker refuses a tag it no longer
	// holds (an ack sent alone before), closing the channel. One alone
	// goes as a single ack.
	upTo, inRun, last := a.base, 0, uint64(0)
	for {
		unsent, ok := a.settled[upTo+1]
		if !ok {
			break
		}
		upTo++
		if unsent {
			inRun, last = inRun+1, upTo
		}
		delete(a.settled, upTo)
	}
	a.base = upTo
	var singles []uint64
	for tag, unsent := range a.settled {
		if unsent {
			singles = append(singles, tag)
			a.settled[tag] = false
		}
	}
	a.toSend = 0
	a.mu.Unlock()
	var err error
	switch {
	case inRun == 1:
		err = a.ch.Ack(last, false)
	case inRun > 1:
		err = a.ch.Ack(last, true)
	}
	for _, tag := range singles {
		if err != nil {
			break
		}
		err = a.ch.Ack(tag, false)
	}
	if err != nil {
		// The channel is gone: the broker delivers its unacked jobs
		// again, and a copy whose outcome is stored is discarded.
		a.log.Warn("acks lost with the channel; the broker delivers those jobs again, and copies whose outcome is stored are discarded", "err", err)
	}
}
